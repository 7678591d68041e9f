"""What Litestar cannot infer about the API, written onto its OpenAPI document.

`polish(openapi, registry, packs)` runs once on the document Litestar generated from the
handlers: the headers that come with some errors (`Retry-After`, `WWW-Authenticate`),
stored outputs as image bytes rather than JSON, request examples taken from the seed's own
client code, the webhooks' bodies and signature headers (webhook_schemas; the handlers read
them raw), and the body rules that come from the catalogue (body_rules).
"""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import (
    Example,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

from adapters.storage.naming import MEDIA_TYPES
from base_core import ModelRegistry, builtin_registry
from base_core.packs import PackCatalogue, builtin_packs
from entrypoints.http.body_rules import create_rules, purchase_rules, token_rules
from entrypoints.http.webhook_schemas import WEBHOOKS

# The seed's client code, one body per action (the image URLs are the demo's sample).
SAMPLE_IMAGE = "http://127.0.0.1:8000/demo/sample.png"
CREATE_EXAMPLES = {
    "create": {
        "action": "create", "model_id": "flux-schnell", "prompt": "A beautiful sunset over mountains",
        "settings": {"aspect_ratio": "16:9", "num_outputs": 1},
    },
    "edit": {
        "action": "edit", "model_id": "nano-banana-edit", "prompt": "Make it look like a watercolor painting",
        "input_image_url": SAMPLE_IMAGE,
    },
    "upscale": {
        "action": "upscale", "model_id": "real-esrgan", "input_image_url": SAMPLE_IMAGE,
        "settings": {"scale": 4},
    },
    "remove_bg": {"action": "remove_bg", "model_id": "birefnet", "input_image_url": SAMPLE_IMAGE},
}

_GENERATION_ID = "2a326b30-2e8b-4096-bb18-140f4d3c498b"
# Litestar drops None from every dict it writes into the document, examples included, so
# the null fields (`input_image_url`, `error_message` here) are left out rather than lost.
_COMPLETED = {
    "id": _GENERATION_ID,
    "user_id": "6f1c2a8e-4b7d-4e0a-9c35-2d8f1e6b7a90",
    "action": "create",
    "model_id": "flux-schnell",
    "model_name": "flux-schnell",
    "prompt": "A beautiful sunset over mountains",
    "settings": {"aspect_ratio": "16:9", "num_outputs": 1},
    "status": "completed",
    "prediction_id": "5ub16t6cqk624egbdxlpna23k8",
    "output_urls": [f"http://127.0.0.1:8000/outputs/{_GENERATION_ID}/0-62e015219bb060c593dd2d178d0ac981.webp"],
    "cost": 1,
    "processing_time_ms": 1840,
    "created_at": "2025-01-01T12:00:00Z",
    "completed_at": "2025-01-01T12:00:02Z",
}
# Successful answers as the seed's client sees them, keyed by (path, method, status).
RESPONSE_EXAMPLES: dict[tuple[str, str, str], Any] = {
    ("/api/generations/create", "post", "201"): {
        "id": _GENERATION_ID, "prediction_id": "5ub16t6cqk624egbdxlpna23k8", "status": "processing",
    },
    ("/api/generations/{generation_id}", "get", "200"): _COMPLETED,
    ("/api/generations/list", "get", "200"): {
        "generations": [_COMPLETED], "total": 1, "page": 1, "limit": 20, "totalPages": 1,
    },
    ("/api/generations/{generation_id}", "delete", "200"): {"success": True},
}

_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    description="seconds to wait before trying again",
)
_WWW_AUTHENTICATE = OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description='`Bearer realm="base"`')
_IMAGE = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


def _operations(openapi: OpenAPI) -> list[tuple[str, str, Operation]]:
    found = []
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is not None:
                found.append((path, method, operation))
    return found


def polish(
    openapi: OpenAPI, registry: ModelRegistry | None = None, packs: PackCatalogue | None = None
) -> OpenAPI:
    """Add to `openapi` (in place) what the handlers' signatures cannot say; the body rules
    come from the `registry` and `packs` the service answers with (the built-in ones)."""
    # The webhooks' bodies as named components, so generated clients get tidy model names.
    schemas = openapi.components.schemas if openapi.components.schemas is not None else {}
    for webhook in WEBHOOKS.values():
        schemas[webhook.schema.title or ""] = webhook.schema
    openapi.components.schemas = dict(sorted(schemas.items()))
    _body_rules(schemas, registry or builtin_registry(), packs or builtin_packs())
    credits = schemas.get("CreditsIn")
    if credits is not None and credits.properties and "amount" in credits.properties:
        amount = credits.properties["amount"]
        if isinstance(amount, Schema):
            amount.schema_not = Schema(const=0)  # an adjustment of nothing is refused
    for path, method, operation in _operations(openapi):
        for status, response in (operation.responses or {}).items():
            if isinstance(response, Reference):
                continue
            headers: dict[str, Any] = dict(response.headers or {})
            if status == "429":
                headers["Retry-After"] = OpenAPIHeader(
                    schema=_RETRY_AFTER.schema, description=_RETRY_AFTER.description, required=True
                )
            elif status == "503":
                headers["Retry-After"] = _RETRY_AFTER
            elif status == "401":
                headers["WWW-Authenticate"] = OpenAPIHeader(
                    schema=_WWW_AUTHENTICATE.schema, description=_WWW_AUTHENTICATE.description, required=True
                )
            if headers:
                response.headers = headers
            example = RESPONSE_EXAMPLES.get((path, method, status))
            if example is not None:
                for media in (response.content or {}).values():
                    media.examples = {"seed": Example(summary="as the seed's client sees it", value=example)}
            if path.startswith("/outputs/") and status == "200":
                response.description = "The image (its type follows the stored file)"
                response.content = {
                    media: OpenAPIMediaType(schema=_IMAGE) for media in sorted(set(MEDIA_TYPES.values()))
                }
        hook = WEBHOOKS.get(path)
        if hook is not None:
            operation.request_body = RequestBody(
                required=True,
                description=hook.description,
                content={"application/json": OpenAPIMediaType(
                    schema=Reference(ref=f"#/components/schemas/{hook.schema.title}")
                )},
            )
            operation.parameters = [*hook.headers]
        if path == "/api/generations/create" and method == "post" and operation.request_body is not None:
            body = operation.request_body
            if not isinstance(body, Reference):
                for media in body.content.values():
                    media.examples = {
                        name: Example(summary=f"{name} (from the seed)", value=value)
                        for name, value in CREATE_EXAMPLES.items()
                    }
    return openapi


def _body_rules(schemas: dict[str, Any], registry: ModelRegistry, packs: PackCatalogue) -> None:
    for name, write in (
        ("CreateGenerationIn", lambda body: create_rules(body, registry)),
        ("PurchaseIn", lambda body: purchase_rules(body, packs)),
        ("TokenIn", token_rules),
    ):
        body = schemas.get(name)
        if isinstance(body, Schema):
            write(body)


__all__ = ["CREATE_EXAMPLES", "SAMPLE_IMAGE", "polish"]


# Swagger UI from the installed swagger-ui-py package, so /schema/swagger works offline.
ASSETS_PATH = "/schema/assets"


def swagger_assets() -> Any:
    """A route serving Swagger UI's JavaScript and CSS from the installed package."""
    from pathlib import Path

    import swagger_ui
    from litestar.static_files import create_static_files_router

    static = Path(swagger_ui.__file__).resolve().parent / "static"
    return create_static_files_router(
        path=ASSETS_PATH, directories=[static], name="swagger-assets", include_in_schema=False
    )


def swagger_plugin() -> Any:
    from litestar.openapi.plugins import SwaggerRenderPlugin

    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
