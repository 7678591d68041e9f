"""The OutputStore port in memory, with its own stand-in for Replicate's file host.

`publish(url, content)` makes a file fetchable (what Replicate's delivery host does);
`forget(url)` deletes it again (what Replicate's retention does). Keeping outputs copies
published files into the store; an unpublished URL fails like a 404 would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from base_core.errors import OutputCopyFailed
from base_core.ports import StoredOutput


class MemoryOutputStore:
    def __init__(self, base_url: str = "http://outputs.invalid/outputs") -> None:
        self.base_url = base_url.rstrip("/")
        self.files: dict[str, StoredOutput] = {}  # the host's files, by URL
        self.kept: dict[tuple[str, str], StoredOutput] = {}
        self.fail_next = 0  # how many coming copies fail, as if the host were down

    def publish(self, url: str, content: bytes, media_type: str = "image/png") -> None:
        self.files[url] = StoredOutput(content, media_type)

    def forget(self, url: str) -> None:
        self.files.pop(url, None)

    async def keep(self, generation_id: str, source_urls: Sequence[str]) -> list[str]:
        copies = []
        for index, source in enumerate(source_urls):
            if self.fail_next > 0:
                self.fail_next -= 1
                raise OutputCopyFailed(source, "the file host is down")
            found = self.files.get(source)
            if found is None:
                raise OutputCopyFailed(source, "answered HTTP 404")
            name = f"{index}-{hashlib.sha256(source.encode()).hexdigest()[:32]}"
            self.kept[(generation_id, name)] = found
            copies.append(f"{self.base_url}/{generation_id}/{name}")
        return copies

    async def read(self, generation_id: str, name: str) -> StoredOutput | None:
        return self.kept.get((generation_id, name))


__all__ = ["MemoryOutputStore"]
