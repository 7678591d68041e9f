"""URLs of stored objects, built when answering: a public base, signed URLs for a private
bucket, or .base's own /outputs on the current address; and what Replicate is given."""

from __future__ import annotations

import base64
import urllib.request

from adapters.memory import MemoryOutputStore
from adapters.storage import ObjectOutputStore
from adapters.storage.links import OutputLinks

KEY = "gen-1/0-" + "a" * 32 + ".png"


def test_own_outputs_follow_the_address_the_request_came_to():
    links = OutputLinks()
    assert links.url(KEY, "http://127.0.0.1:8001") == f"http://127.0.0.1:8001/outputs/{KEY}"
    assert links.url(KEY, "https://studio.example") == f"https://studio.example/outputs/{KEY}"


def test_the_public_url_of_the_service_wins_over_the_request():
    links = OutputLinks(service_base="https://api.studio.example")
    assert links.url(KEY, "http://10.0.0.7:8000") == f"https://api.studio.example/outputs/{KEY}"


def test_a_public_base_serves_the_keys_themselves():
    links = OutputLinks(public_base="https://cdn.example/studio/", service_base="https://api.example")
    assert links.url(KEY, "http://x") == f"https://cdn.example/studio/{KEY}"


async def test_replicate_gets_a_data_url_when_nothing_it_can_fetch_serves_the_upload():
    store = MemoryOutputStore()
    await store.put("uploads/" + "b" * 32 + ".png", b"\x89PNG-bytes", "image/png")
    given = await OutputLinks(store=store).for_provider("uploads/" + "b" * 32 + ".png", "image/png")
    assert given == "data:image/png;base64," + base64.b64encode(b"\x89PNG-bytes").decode()
    public = await OutputLinks(store=store, service_base="https://api.example").for_provider(
        "uploads/" + "b" * 32 + ".png", "image/png"
    )
    assert public == "https://api.example/outputs/uploads/" + "b" * 32 + ".png"


async def test_signed_urls_open_a_private_bucket_for_a_while(s3_server):
    from s3_support import ACCESS_KEY, REGION, SECRET_KEY

    bucket = s3_server.new_bucket()
    store = ObjectOutputStore.s3(
        bucket, "private", endpoint=s3_server.endpoint, region=REGION,
        access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY,
    )
    await store.put("uploads/" + "c" * 32 + ".png", b"secret-pixels", "image/png")
    links = OutputLinks(store=store, presign_seconds=60)
    url = links.url("uploads/" + "c" * 32 + ".png", "http://ignored")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"secret-pixels"
    # moto does not check signatures unless IAM is simulated, so a refused tampered URL is
    # not asserted here; the signing itself is object_store's (AWS SigV4 query signing).
    assert (await links.for_provider("uploads/" + "c" * 32 + ".png", "image/png")).startswith(
        f"{s3_server.endpoint}/{bucket}/private/uploads/"
    )
    await store.aclose()
