"""The OutputStore port: the same assertions on a local directory, in memory, and on an
S3 bucket served by moto on loopback (the real client's signing, streaming and errors)."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from adapters.memory import MemoryOutputStore
from adapters.storage import GuardedFetch, ObjectOutputStore
from base_core.errors import OutputCopyFailed, OutputStoreUnavailable

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 100
SOURCES = ["https://replicate.delivery/a/out-0.png", "https://replicate.delivery/a/out-1.webp"]
KINDS = ["local", "memory", "s3"]


class Host:
    """Replicate's file host, for whichever store: what `keep` downloads from."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.memory: MemoryOutputStore | None = None

    def publish(self, url: str, content: bytes, media_type: str = "image/png") -> None:
        self.files[url] = (content, media_type)
        if self.memory is not None:
            self.memory.publish(url, content, media_type)

    def transport(self) -> httpx.MockTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            found = self.files.get(str(request.url))
            if found is None:
                return httpx.Response(404)
            return httpx.Response(200, content=found[0], headers={"content-type": found[1]})

        return httpx.MockTransport(answer)


@pytest.fixture(params=KINDS)
async def kind(request):
    return request.param


@pytest.fixture
async def host_and_store(kind, tmp_path, request):
    host = Host()
    fetch = GuardedFetch(max_bytes=8 * 1024 * 1024, timeout=5, transport=host.transport())
    if kind == "memory":
        store = MemoryOutputStore()
        host.memory = store
    elif kind == "local":
        store = ObjectOutputStore.local(tmp_path / "outputs", fetch)
    else:
        server = request.getfixturevalue("s3_server")
        from s3_support import ACCESS_KEY, REGION, SECRET_KEY

        store = ObjectOutputStore.s3(
            server.new_bucket(), "outputs", endpoint=server.endpoint, region=REGION,
            access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, fetch=fetch,
        )
    host.publish(SOURCES[0], PNG, "image/png")
    host.publish(SOURCES[1], b"RIFF\x04\x00\x00\x00WEBP", "image/webp")
    yield host, store
    await fetch.aclose()


async def read_all(store, key, byte_range=None) -> tuple[bytes, object]:
    stored = await store.open(key, byte_range)
    assert stored is not None
    return b"".join([chunk async for chunk in stored.chunks]), stored


async def test_keeps_copies_under_stable_keys_and_reads_them_back(host_and_store):
    _, store = host_and_store
    keys = await store.keep("gen-1", SOURCES)
    assert [k.rsplit(".", 1)[1] for k in keys] == ["png", "webp"]
    assert all(k.startswith("gen-1/") for k in keys)
    assert await store.keep("gen-1", SOURCES) == keys  # keeping twice: the same copies
    content, first = await read_all(store, keys[0])
    assert (content, first.media_type, first.size) == (PNG, "image/png", len(PNG))
    assert first.etag.startswith('"') and first.etag.endswith('"')
    _, second = await read_all(store, keys[1])
    assert second.media_type == "image/webp"


async def test_a_key_names_neither_the_user_nor_the_source(host_and_store):
    _, store = host_and_store
    [key] = await store.keep("gen-2", SOURCES[:1])
    assert "replicate" not in key and "out-0" not in key
    assert key.split("/", 1)[1].split("-", 1)[1].split(".")[0] != hashlib.sha256(b"gen-2").hexdigest()[:32]


async def test_put_open_range_and_delete(host_and_store):
    _, store = host_and_store
    key = "uploads/" + "a" * 32 + ".png"
    await store.put(key, b"0123456789", "image/png")
    content, whole = await read_all(store, key)
    assert content == b"0123456789" and whole.media_type == "image/png"
    part, ranged = await read_all(store, key, (2, 5))
    assert part == b"234" and (ranged.start, ranged.end, ranged.size) == (2, 5, 10)
    tail, _ = await read_all(store, key, (7, 1 << 62))
    assert tail == b"789"
    await store.delete([key, "uploads/" + "b" * 32 + ".png"])  # a missing key is no error
    assert await store.open(key) is None


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "gen-1/0.png", "gen/1/0-" + "0" * 32 + ".png", "gen-1/0-" + "0" * 32 + ".png"]
)
async def test_opening_anything_but_a_stored_object_finds_nothing(host_and_store, key):
    _, store = host_and_store
    assert await store.open(key) is None


async def test_a_missing_source_fails_the_copy_and_stores_nothing(host_and_store):
    _, store = host_and_store
    with pytest.raises(OutputCopyFailed, match="404"):
        await store.keep("gen-3", ["https://replicate.delivery/gone.png"])
    for n in range(2):
        assert await store.open(f"gen-3/{n}-" + hashlib.sha256(b"x").hexdigest()[:32] + ".png") is None


async def test_a_large_result_is_streamed_in_chunks(host_and_store, kind):
    host, store = host_and_store
    if kind == "memory":
        pytest.skip("the memory store holds its objects whole by design")
    big = os.urandom(3 * 1024 * 1024 + 17)
    host.publish("https://replicate.delivery/big.png", big)
    [key] = await store.keep("gen-4", ["https://replicate.delivery/big.png"])
    stored = await store.open(key)
    chunks = [chunk async for chunk in stored.chunks]
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 1024 * 1024
    assert b"".join(chunks) == big and stored.size == len(big)


async def test_an_unreachable_store_fails_cleanly(kind, tmp_path):
    host = Host()
    host.publish(SOURCES[0], PNG)
    fetch = GuardedFetch(timeout=5, transport=host.transport())
    if kind == "memory":
        store = MemoryOutputStore()
        store.publish(SOURCES[0], PNG)
        store.down = True
    elif kind == "local":
        blocker = tmp_path / "file-not-dir"
        store = ObjectOutputStore.local(tmp_path / "outputs", fetch)
        blocker.write_text("x")
        store = ObjectOutputStore(store.store.__class__(str(blocker)), fetch=fetch)  # a file as the root
    else:
        from live_server import free_port

        store = ObjectOutputStore.s3(
            "nobucket", endpoint=f"http://127.0.0.1:{free_port()}", region="us-east-1",
            access_key_id="x", secret_access_key="y", fetch=fetch, timeout_seconds=2,
        )
    with pytest.raises(OutputCopyFailed):
        await store.keep("gen-5", SOURCES[:1])
    with pytest.raises(OutputStoreUnavailable):
        await store.put("uploads/" + "c" * 32 + ".png", PNG, "image/png")
    await fetch.aclose()
