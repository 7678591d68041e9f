"""The application layer: each module holds the use cases of one part of the product."""

from base_core.usecases.context import Context, StudioConfig

__all__ = ["Context", "StudioConfig"]
