"""The OutputStore port in memory, with its own stand-in for Replicate's file host.

`publish(url, content)` makes a file fetchable (what Replicate's delivery host does);
`forget(url)` deletes it again (what Replicate's retention does). Keeping outputs copies
published files into the store; an unpublished URL fails like a 404 would. `down = True`
makes the store itself unreachable (every call raises, as a bucket that does not answer).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence

from base_core.errors import OutputCopyFailed, OutputStoreUnavailable
from base_core.ports import StoredObject, StoredOutput

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


class MemoryOutputStore:
    def __init__(self) -> None:
        self.files: dict[str, StoredOutput] = {}  # the host's files, by URL
        self.objects: dict[str, StoredOutput] = {}  # the store's objects, by key
        self.fail_next = 0  # how many coming copies fail, as if the host were down
        self.down = False

    def publish(self, url: str, content: bytes, media_type: str = "image/png") -> None:
        self.files[url] = StoredOutput(content, media_type)

    def forget(self, url: str) -> None:
        self.files.pop(url, None)

    def _check_up(self) -> None:
        if self.down:
            raise OutputStoreUnavailable("the memory store is down")

    async def keep(self, generation_id: str, source_urls: Sequence[str]) -> list[str]:
        keys = []
        for index, source in enumerate(source_urls):
            if self.fail_next > 0:
                self.fail_next -= 1
                raise OutputCopyFailed(source, "the file host is down")
            found = self.files.get(source)
            if found is None:
                raise OutputCopyFailed(source, "answered HTTP 404")
            if self.down:
                raise OutputCopyFailed(source, "the store is down")
            digest = hashlib.sha256(source.encode()).hexdigest()[:32]
            key = f"{generation_id}/{index}-{digest}.{_EXTENSIONS.get(found.media_type, 'bin')}"
            self.objects[key] = found
            keys.append(key)
        return keys

    async def put(self, key: str, content: bytes, media_type: str) -> None:
        self._check_up()
        self.objects[key] = StoredOutput(content, media_type)

    async def open(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredObject | None:
        self._check_up()
        found = self.objects.get(key)
        if found is None:
            return None
        size = len(found.content)
        start, end = byte_range if byte_range is not None else (0, size)
        end = min(end, size)
        etag = '"' + hashlib.md5(found.content, usedforsecurity=False).hexdigest() + '"'
        return StoredObject(key, found.media_type, size, etag, start, end, _one(found.content[start:end]))

    async def delete(self, keys: Sequence[str]) -> None:
        self._check_up()
        for key in keys:
            self.objects.pop(key, None)


async def _one(content: bytes) -> AsyncIterator[bytes]:
    yield content


__all__ = ["MemoryOutputStore"]
