"""The output store on a local directory (BASE_OUTPUT_STORE=file://<dir>, the default).

Layout: `{directory}/{key}`, a key being `{generation_id}/{n}-{digest}.{ext}` or
`uploads/{id}.{ext}`; served at `/outputs/{key}`. obstore writes a file under a temporary
name and renames it into place, so a reader (or a second process keeping the same output)
never sees half a file.
"""

from __future__ import annotations

from pathlib import Path

from adapters.storage.fetch import GuardedFetch
from adapters.storage.objects import ObjectOutputStore

URL_PREFIX = "/outputs"


def LocalOutputStore(directory: Path, fetch: GuardedFetch | None = None) -> ObjectOutputStore:
    """The object store on a local directory."""
    return ObjectOutputStore.local(directory, fetch)


__all__ = ["URL_PREFIX", "LocalOutputStore"]
