"""Output stores: where results outlive Replicate's one-hour retention.

Only a local directory is built. An S3-compatible store is not: no well-kept async S3
client fits without heavy dependencies; the OutputStore port is two methods, so one can
be added next to this one.
"""

from adapters.storage.fetch import Fetch, Fetched, GuardedFetch
from adapters.storage.local import URL_PREFIX, LocalOutputStore

__all__ = ["URL_PREFIX", "Fetch", "Fetched", "GuardedFetch", "LocalOutputStore"]
