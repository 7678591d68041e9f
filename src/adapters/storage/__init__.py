"""Output stores: where results and uploads outlive Replicate's one-hour retention.

`ObjectOutputStore` (obstore) keeps them in a local directory (`file://`) or an
S3-compatible bucket (`s3://`); `LocalOutputStore` is its local directory by another name.
"""

from adapters.storage.fetch import Fetch, Fetched, GuardedFetch
from adapters.storage.local import URL_PREFIX, LocalOutputStore
from adapters.storage.objects import ObjectOutputStore, parse_store_url

__all__ = [
    "URL_PREFIX", "Fetch", "Fetched", "GuardedFetch", "LocalOutputStore", "ObjectOutputStore",
    "parse_store_url",
]
