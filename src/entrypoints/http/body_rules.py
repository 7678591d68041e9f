"""The rules of the request bodies that depend on the catalogue, written into the document.

A create body is checked against the chosen model's own settings (base_core.registry), a
purchase against the packs each provider sells (base_core.packs), and a token against the
shape of Replicate's tokens unless forced. The schemas of the bodies state only their
shape; the functions here add, per model and per provider, `if`/`then` rules made from the
same registry and catalogue the service answers with, so a body the document allows is a
body the service accepts, and generated clients still see one object per body.
"""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

from base_core import ModelRegistry, ModelSpec, SettingSpec
from base_core.image_urls import MAX_URL_LENGTH
from base_core.packs import PackCatalogue
from base_core.registry import TOP_LEVEL_FIELDS, SettingType
from base_core.text import FILLED_TEXT_PATTERN, TEXT_PATTERN
from base_core.tokens import REPLICATE_TOKEN_PATTERN

_NULL = Schema(type=OpenAPIType.NULL)
# What UrlPolicy.check accepts, as far as a schema can say it (a host's being public is
# checked by the service; the name is never resolved).
_IMAGE_URL = Schema(
    type=OpenAPIType.STRING, format=OpenAPIFormat.URI, pattern="^https?://[^\\s@/?#]+([/?#]\\S*)?$",
    max_length=MAX_URL_LENGTH,
    description="an http(s) URL of the image (an upload's `url` works); its host must be "
    "public unless the service runs with BASE_ALLOW_PRIVATE_IMAGE_URLS",
)


def setting_schema(spec: SettingSpec) -> Schema:
    """The JSON Schema of one setting's value, as SettingSpec.coerce checks it."""
    kind = spec.type
    if kind in (SettingType.TEXT, SettingType.TEXTAREA):
        return Schema(
            type=OpenAPIType.STRING,
            pattern=FILLED_TEXT_PATTERN if spec.required else TEXT_PATTERN,
            max_length=int(spec.max) if spec.max is not None else None,
        )
    if kind is SettingType.IMAGE:
        return _IMAGE_URL
    if kind is SettingType.BOOLEAN:
        return Schema(type=OpenAPIType.BOOLEAN)
    if kind is SettingType.SELECT:
        return Schema(enum=list(spec.options or ()))
    if kind in (SettingType.INTEGER, SettingType.NUMBER):
        return Schema(
            type=OpenAPIType.INTEGER if kind is SettingType.INTEGER else OpenAPIType.NUMBER,
            minimum=spec.min,
            maximum=spec.max,
        )
    raise AssertionError(f"unhandled setting type {kind}")


def _nullable(schema: Schema) -> Schema:
    return Schema(one_of=[schema, _NULL])


def model_rule(model: ModelSpec) -> Schema:
    """`if model_id is this model then` its action, fields and settings."""
    by_name = {spec.name: spec for spec in model.settings}
    properties: dict[str, Any] = {"action": Schema(const=model.action.value)}
    required: list[str] = []
    for name in sorted(TOP_LEVEL_FIELDS):
        spec = by_name.get(name)
        if spec is None:
            properties[name] = _NULL  # a field the model takes no value for may only be null
        elif spec.required:
            properties[name] = setting_schema(spec)
            required.append(name)
        else:
            properties[name] = _nullable(setting_schema(spec))
    settings = [spec for spec in model.settings if spec.name not in TOP_LEVEL_FIELDS]
    settings_object = Schema(
        type=OpenAPIType.OBJECT,
        properties={spec.name: _nullable(setting_schema(spec)) for spec in settings} or None,
        required=sorted(spec.name for spec in settings if spec.required) or None,
        additional_properties=False,
    )
    if any(spec.required for spec in settings):
        properties["settings"] = settings_object
        required.append("settings")
    else:
        properties["settings"] = _nullable(settings_object)
    return Schema(
        schema_if=Schema(properties={"model_id": Schema(const=model.id)}, required=["model_id"]),
        then=Schema(properties=properties, required=required or None),
    )


def create_rules(body: Schema, registry: ModelRegistry) -> None:
    """Write each model's rules onto the create body's schema (in place)."""
    if body.properties is not None and "model_id" in body.properties:
        # The catalogue the service answers with (an unknown id is a 400): a client generated
        # from the document knows this deployment's models.
        body.properties["model_id"] = Schema(
            type=OpenAPIType.STRING,
            enum=[model.id for model in registry],
            description="a model's id from GET /api/models/list; its action, fields and settings follow",
        )
    body.all_of = [model_rule(model) for model in registry]


def purchase_rules(body: Schema, packs: PackCatalogue) -> None:
    """Write which packs each provider sells onto the purchase body's schema (in place)."""
    sold = {
        "telegram": [pack.id for pack in packs if pack.stars is not None],
        "stripe": [pack.id for pack in packs if pack.amount is not None],
    }
    if body.properties is not None and "pack_id" in body.properties:
        body.properties["pack_id"] = Schema(
            type=OpenAPIType.STRING, enum=[pack.id for pack in packs], description="a pack's id from GET /api/credits/packs"
        )
    body.all_of = [
        Schema(
            schema_if=Schema(properties={"provider": Schema(const=provider)}, required=["provider"]),
            then=Schema(properties={"pack_id": Schema(enum=ids)}),
        )
        for provider, ids in sold.items()
    ]


def token_rules(body: Schema) -> None:
    """A token that is not forced must look like Replicate's (in place)."""
    body.schema_if = Schema(
        properties={"force": Schema(const=True)}, required=["force"],
    )
    body.schema_else = Schema(properties={"token": Schema(pattern=REPLICATE_TOKEN_PATTERN)})


__all__ = ["create_rules", "purchase_rules", "setting_schema", "token_rules"]
