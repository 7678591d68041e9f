"""The HTTP API: a Litestar app over the Studio."""

from entrypoints.http.app import MAX_BODY_BYTES, create_app

__all__ = ["MAX_BODY_BYTES", "create_app"]
