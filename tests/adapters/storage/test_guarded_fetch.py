"""The guarded fetch of results, over a fake file host (httpx.MockTransport); the stores
themselves are tests/contract/test_output_store.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from adapters.storage import GuardedFetch
from base_core.errors import OutputCopyFailed

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def host(routes: dict[str, httpx.Response]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.MockTransport(answer)


def png(content: bytes = PNG) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": "image/png"})


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/x.png", "data:image/png;base64,AA=="])
async def test_only_http_urls_are_fetched(url):
    fetch = GuardedFetch(transport=host({}))
    with pytest.raises(OutputCopyFailed, match="http"):
        await fetch(url)
    await fetch.aclose()


async def test_a_file_over_the_cap_is_refused_whether_or_not_it_says_so():
    big = b"x" * 2048
    routes = {
        "https://h/declared.png": png(big),
        "https://h/streamed.png": httpx.Response(200, stream=httpx.ByteStream(big)),
    }
    fetch = GuardedFetch(max_bytes=1024, transport=host(routes))
    for url in routes:
        with pytest.raises(OutputCopyFailed, match="larger than 1024"):
            await fetch(url)
    await fetch.aclose()


async def test_a_host_that_never_answers_times_out():
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return png()

    fetch = GuardedFetch(timeout=0.2, transport=httpx.MockTransport(hang))
    with pytest.raises(OutputCopyFailed, match="not downloaded within"):
        await fetch("https://h/slow.png")
    await fetch.aclose()
