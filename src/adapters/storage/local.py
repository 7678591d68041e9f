"""The OutputStore port on a local directory (BASE_OUTPUT_DIR), served by the API.

Layout: `{directory}/{generation_id}/{n}-{digest}.{ext}`, served at
`{base_url}/outputs/{generation_id}/{n}-{digest}.{ext}`. A file is written to a temporary
name and renamed into place, so a reader (or a second process keeping the same output)
never sees half a file.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from adapters.storage.fetch import Fetch, GuardedFetch
from adapters.storage.naming import extension_for, is_safe, is_safe_id, media_type_of, name_for
from base_core.errors import OutputCopyFailed
from base_core.ports import StoredOutput

URL_PREFIX = "/outputs"


class LocalOutputStore:
    def __init__(self, directory: Path, base_url: str, fetch: Fetch | None = None) -> None:
        self.directory = Path(directory)
        self.base_url = base_url.rstrip("/")
        self._own_fetch = GuardedFetch() if fetch is None else None
        self._fetch: Fetch = fetch or self._own_fetch  # type: ignore[assignment]

    def url_for(self, generation_id: str, name: str) -> str:
        return f"{self.base_url}{URL_PREFIX}/{generation_id}/{name}"

    async def keep(self, generation_id: str, source_urls: Sequence[str]) -> list[str]:
        if not is_safe_id(generation_id):
            raise OutputCopyFailed(generation_id, "not a generation id the store can file")
        urls = []
        for index, source in enumerate(source_urls):
            fetched = await self._fetch(source)
            name = name_for(index, source, extension_for(source, fetched.media_type))
            try:
                await asyncio.to_thread(self._write, generation_id, name, fetched.content)
            except OSError as error:
                raise OutputCopyFailed(source, f"could not write the copy: {error}") from None
            urls.append(self.url_for(generation_id, name))
        return urls

    async def read(self, generation_id: str, name: str) -> StoredOutput | None:
        if not is_safe(generation_id, name):
            return None
        path = self.directory / generation_id / name
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StoredOutput(content, media_type_of(name))

    def _write(self, generation_id: str, name: str, content: bytes) -> None:
        folder = self.directory / generation_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if target.exists():
            return  # the same output, kept before (names are content-addressed by source)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def aclose(self) -> None:
        if self._own_fetch is not None:
            await self._own_fetch.aclose()


__all__ = ["URL_PREFIX", "LocalOutputStore"]
