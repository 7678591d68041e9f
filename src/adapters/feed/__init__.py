"""The live feed's adapters: in one process, and across processes through PostgreSQL."""

from adapters.feed.local import LocalFeed

__all__ = ["LocalFeed"]
