"""The Litestar application: routes, DI, errors, logging, limits and the OpenAPI schema."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp, ControllerRouterHandler, Message, Receive, Scope, Send

from base_core import ModelRegistry
from base_core.packs import PackCatalogue
from entrypoints.bootstrap import Services
from entrypoints.http.accounts import AdminController, AuthController
from entrypoints.http.credits import (
    AdminPurchasesController,
    CreditsController,
    list_packs,
    stripe_webhook,
    telegram_webhook,
)
from entrypoints.http.dependencies import BASE_DEPENDENCIES
from entrypoints.http.generations import GenerationController
from entrypoints.http.live import LiveController
from entrypoints.http.openapi import polish, swagger_assets, swagger_plugin
from entrypoints.http.operations import OPERATIONS_ROUTES, request_context, stamp_unrouted
from entrypoints.http.outputs import stored_output
from entrypoints.http.problems import EXCEPTION_HANDLERS, PROBLEM_DETAILS
from entrypoints.http.stopping import streams_end_on_stop
from entrypoints.http.studio import STUDIO_ROUTES
from entrypoints.http.system import health, list_models, replicate_webhook
from entrypoints.http.uploads import UploadController

MAX_BODY_BYTES = 64 * 1024
access_log = logging.getLogger("base.http.access")

ServicesFactory = Callable[[], AbstractAsyncContextManager[Services]]


def access_logging(app: ASGIApp) -> ASGIApp:
    """One line per request: method, path, status, duration. Never headers or bodies."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        method = scope["method"]
        started = time.perf_counter()
        status = 500

        async def remember(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, remember)
        finally:
            took = (time.perf_counter() - started) * 1000
            access_log.info(
                "%s %s %d %.1fms",
                method,
                scope["path"],
                status,
                took,
                extra={
                    "method": method, "path": scope["path"], "route": scope.get("path_template"),
                    "status": status, "duration_ms": round(took, 1),
                },
            )

    return middleware


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title=".base",
        version="0.1.0",
        description="The backend of an AI image studio paid for with credits. Errors are "
        "RFC 9457 problem+json.",
        path="/schema",
        render_plugins=[swagger_plugin()],
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="A Supabase access token or a session token from /api/auth/telegram",
                )
            }
        ),
    )


def create_app(
    services: Services | ServicesFactory,
    *,
    debug: bool = False,
    extra_routes: Sequence[ControllerRouterHandler] = (),
    registry: ModelRegistry | None = None,
    packs: PackCatalogue | None = None,
) -> Litestar:
    """The API over ready `Services`, or over a factory the lifespan opens and closes.

    A factory is what `base serve` uses: each worker process builds its own services
    inside its own event loop. `extra_routes` are added by `base demo` only (its sign-in).
    The document states the create and purchase rules of `registry` and `packs` (the
    built-in ones unless given): the ones the services answer with.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if isinstance(services, Services):
            app.state.services = services
            yield
            return
        async with services() as built:
            app.state.services = built
            with streams_end_on_stop():
                yield

    app = Litestar(
        route_handlers=[
            list_models,
            GenerationController,
            LiveController,
            replicate_webhook,
            AuthController,
            AdminController,
            health,
            stored_output,
            swagger_assets(),
            list_packs,
            CreditsController,
            telegram_webhook,
            stripe_webhook,
            AdminPurchasesController,
            *OPERATIONS_ROUTES,
            UploadController,
            *STUDIO_ROUTES,
            *extra_routes,
        ],
        dependencies=BASE_DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        plugins=[PROBLEM_DETAILS],
        lifespan=[lifespan],
        middleware=[request_context, access_logging],
        before_send=[stamp_unrouted],
        openapi_config=openapi_config(),
        request_max_body_size=MAX_BODY_BYTES,
        debug=debug,
        # Logging is the process's business (the CLI configures it); Litestar adds none.
        logging_config=None,
    )
    # Litestar builds the document lazily and rebuilds it when a documented route is
    # registered later (`app.register`): such a route must be followed by polish() again.
    polish(app.openapi_schema, registry, packs)
    return app


