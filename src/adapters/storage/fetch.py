"""Fetching a result from Replicate, guarded: http(s) only, a size cap, a deadline.

The URLs come from Replicate's answers, but an answer is still outside input: a huge or
never-ending file must not fill the disk or hang a webhook, and a `file:` or other scheme
must never be opened. Every failure leaves as OutputCopyFailed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import IO
from urllib.parse import urlsplit

import attrs
import httpx

from base_core.errors import OutputCopyFailed

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0


@attrs.frozen
class Fetched:
    content: bytes
    media_type: str  # from the answer's Content-Type, without parameters; may be ""


Fetch = Callable[[str], Awaitable[Fetched]]


class GuardedFetch:
    """`await fetch(url)`; one pooled client, closed with `aclose()`."""

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            follow_redirects=True,
            max_redirects=3,
            transport=transport,
        )

    async def __call__(self, url: str) -> Fetched:
        if urlsplit(url).scheme not in ("http", "https"):
            raise OutputCopyFailed(url, "only http(s) URLs are fetched")
        try:
            async with asyncio.timeout(self.timeout):  # the whole download, not each read
                return await self._download(url)
        except TimeoutError:
            raise OutputCopyFailed(url, f"not downloaded within {self.timeout:.0f}s") from None
        except httpx.HTTPError as error:
            raise OutputCopyFailed(url, f"{type(error).__name__}: {error}") from None

    async def _download(self, url: str) -> Fetched:
        async with self._client.stream("GET", url) as response:
            if response.status_code != 200:
                raise OutputCopyFailed(url, f"answered HTTP {response.status_code}")
            if urlsplit(str(response.url)).scheme not in ("http", "https"):
                raise OutputCopyFailed(url, "redirected away from http(s)")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise OutputCopyFailed(url, f"larger than {self.max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise OutputCopyFailed(url, f"larger than {self.max_bytes} bytes")
                chunks.append(chunk)
            media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            return Fetched(b"".join(chunks), media_type)

    async def to_file(self, url: str, file: IO[bytes]) -> str:
        """Stream `url` into `file` (the size cap and deadline as above) and return its
        media type; nothing but the file holds the bytes."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise OutputCopyFailed(url, "only http(s) URLs are fetched")
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client.stream("GET", url) as response:
                    self._check(url, response)
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise OutputCopyFailed(url, f"larger than {self.max_bytes} bytes")
                        file.write(chunk)
                    media_type: str = response.headers.get("content-type", "")
                    return media_type.split(";", 1)[0].strip().lower()
        except TimeoutError:
            raise OutputCopyFailed(url, f"not downloaded within {self.timeout:.0f}s") from None
        except httpx.HTTPError as error:
            raise OutputCopyFailed(url, f"{type(error).__name__}: {error}") from None

    def _check(self, url: str, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise OutputCopyFailed(url, f"answered HTTP {response.status_code}")
        if urlsplit(str(response.url)).scheme not in ("http", "https"):
            raise OutputCopyFailed(url, "redirected away from http(s)")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise OutputCopyFailed(url, f"larger than {self.max_bytes} bytes")

    async def aclose(self) -> None:
        await self._client.aclose()


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "Fetch", "Fetched", "GuardedFetch"]
