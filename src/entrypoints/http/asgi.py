"""The ASGI entry point `base serve` hands to uvicorn (one app per worker process)."""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Litestar
from litestar.types import ControllerRouterHandler

from entrypoints.bootstrap import open_services
from entrypoints.settings import Settings


def app() -> Litestar:
    """An app that builds its services from the environment in its own lifespan."""
    from entrypoints.cli.run import configure_logging

    settings = Settings.from_env()
    configure_logging(settings=settings)  # worker processes do not inherit the parent's logging setup
    return create_app_for(settings)


def create_app_for(settings: Settings, extra_routes: Sequence[ControllerRouterHandler] = ()) -> Litestar:
    from entrypoints.bootstrap import load_packs, load_registry
    from entrypoints.http.app import create_app

    return create_app(
        lambda: open_services(settings), extra_routes=extra_routes,
        registry=load_registry(settings), packs=load_packs(settings),
    )


__all__ = ["app", "create_app_for"]
