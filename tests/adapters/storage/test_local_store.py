"""The local output store and its guarded fetch, over a fake file host (httpx.MockTransport)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from adapters.storage import GuardedFetch, LocalOutputStore
from base_core.errors import OutputCopyFailed

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def host(routes: dict[str, httpx.Response]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.MockTransport(answer)


def png(content: bytes = PNG) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": "image/png"})


@pytest.fixture
async def store(tmp_path):
    routes = {
        "https://replicate.delivery/a/out-0.png": png(),
        "https://replicate.delivery/a/out-1.webp": httpx.Response(200, content=b"RIFFxxxxWEBP"),
    }
    fetch = GuardedFetch(max_bytes=1024, timeout=2, transport=host(routes))
    yield LocalOutputStore(tmp_path / "outputs", "https://studio.example", fetch)
    await fetch.aclose()


async def test_keeps_copies_at_stable_urls_and_reads_them_back(store):
    sources = ["https://replicate.delivery/a/out-0.png", "https://replicate.delivery/a/out-1.webp"]
    urls = await store.keep("gen-1", sources)
    assert [u.rsplit(".", 1)[1] for u in urls] == ["png", "webp"]
    assert all(u.startswith("https://studio.example/outputs/gen-1/") for u in urls)
    assert await store.keep("gen-1", sources) == urls  # keeping twice: the same copies
    first = await store.read("gen-1", urls[0].rsplit("/", 1)[1])
    assert (first.content, first.media_type) == (PNG, "image/png")
    second = await store.read("gen-1", urls[1].rsplit("/", 1)[1])
    assert second.media_type == "image/webp"


async def test_two_processes_keeping_at_once_agree(store):
    sources = ["https://replicate.delivery/a/out-0.png"]
    first, second = await asyncio.gather(store.keep("gen-2", sources), store.keep("gen-2", sources))
    assert first == second
    assert [p.name for p in (store.directory / "gen-2").iterdir()] == [first[0].rsplit("/", 1)[1]]


@pytest.mark.parametrize(
    "generation_id, name",
    [
        ("gen-1", "../../etc/passwd"),
        ("..", "0-" + "0" * 32 + ".png"),
        ("gen-1", "0.png"),
        ("gen/1", "0-" + "0" * 32 + ".png"),
        ("gen-1", "0-" + "0" * 32 + ".png"),  # well formed, never stored
    ],
)
async def test_reading_anything_but_a_kept_copy_finds_nothing(store, generation_id, name):
    assert await store.read(generation_id, name) is None


async def test_a_missing_file_fails_the_copy_and_stores_nothing(store):
    with pytest.raises(OutputCopyFailed, match="404"):
        await store.keep("gen-3", ["https://replicate.delivery/gone.png"])
    assert not (store.directory / "gen-3").exists()


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
