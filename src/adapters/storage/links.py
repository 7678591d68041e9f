"""URLs of stored objects, built when answering from their keys.

What is stored is a key; the URL depends on where the objects are served from now:

- `public_base` (BASE_OUTPUT_URL): a CDN or public bucket serving the keys: `{base}/{key}`;
- `presign_seconds` (BASE_OUTPUT_PRESIGN_SECONDS, S3 only): a time-limited signed URL of
  a private bucket's object, made afresh on every answer;
- otherwise .base's own `/outputs/{key}`, on `service_base` (BASE_PUBLIC_URL) or the
  address the request came to, so a move to another host or port changes no row.

For Replicate, an upload is linked the same way when it can fetch the link (a public base,
a signed URL, or the service's public URL); else it gets the image as a data URL.
"""

from __future__ import annotations

import base64

import attrs

from adapters.storage.local import URL_PREFIX
from adapters.storage.objects import ObjectOutputStore
from base_core.errors import NotFound
from base_core.ports import OutputStore

DEFAULT_SERVICE_BASE = "http://127.0.0.1:8000"


@attrs.frozen
class OutputLinks:
    store: OutputStore | None = None
    public_base: str | None = None
    service_base: str | None = None
    presign_seconds: float | None = None

    def url(self, key: str, request_base: str | None = None) -> str:
        if self.presign_seconds is not None and isinstance(self.store, ObjectOutputStore):
            return self.store.presign(key, self.presign_seconds)
        if self.public_base is not None:
            return f"{self.public_base.rstrip('/')}/{key}"
        base = self.service_base or request_base or DEFAULT_SERVICE_BASE
        return f"{base.rstrip('/')}{URL_PREFIX}/{key}"

    def urls(self, keys: tuple[str, ...], request_base: str | None = None) -> list[str]:
        return [self.url(key, request_base) for key in keys]

    async def for_provider(self, key: str, media_type: str) -> str:
        if self.presign_seconds is not None or self.public_base is not None or self.service_base:
            return self.url(key)
        if self.store is None:
            raise NotFound("upload", key)
        stored = await self.store.open(key)
        if stored is None:
            raise NotFound("upload", key)
        content = b"".join([chunk async for chunk in stored.chunks])
        return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


__all__ = ["OutputLinks"]
