"""Uploads over the API: accepted types round-trip, hostile files store nothing, an upload
is its owner's alone, and its URL works as input_image_url (Replicate gets a data URL
when the store is not public)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import AsyncIterator

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from http_helpers import Api, build_services
from litestar.testing import AsyncTestClient
from PIL import Image

from adapters.memory import MemoryStore
from adapters.storage import ObjectOutputStore
from adapters.storage.links import OutputLinks
from adapters.system import SystemClock
from base_core import Studio
from base_testing import FakeInference
from entrypoints.http import create_app

LIMIT = 200_000
U1 = "00000000-0000-4000-8000-0000000000a1"
OWNER = "00000000-0000-4000-8000-0000000000b2"
OTHER = "00000000-0000-4000-8000-0000000000c3"


@attrs.define
class UploadWorld:
    api: Api
    directory: os.PathLike[str]

    def stored(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.directory)) for p in self.directory.rglob("*") if p.is_file()  # type: ignore[attr-defined]
        )


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[UploadWorld]:
    store = MemoryStore()
    inference = FakeInference(SystemClock())
    services, sessions = build_services(store, inference, ec.generate_private_key(ec.SECP256R1()))
    outputs = ObjectOutputStore.local(tmp_path / "store")
    context = attrs.evolve(services.studio.context, outputs=outputs, links=OutputLinks(store=outputs))
    services = attrs.evolve(
        services, studio=Studio(context), links=OutputLinks(store=outputs), max_upload_bytes=LIMIT
    )
    await services.studio.add_token("r8_test_token_secret_value_0001", "first")
    async with AsyncTestClient(app=create_app(services)) as client:
        yield UploadWorld(Api(client, services.studio, inference, sessions, None), tmp_path / "store")
    await outputs.aclose()


def image_bytes(kind: str, size: tuple[int, int] = (32, 24), exif: Image.Exif | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 90))
    out = io.BytesIO()
    options = {"exif": exif.tobytes()} if exif is not None else {}
    image.save(out, kind, **options)
    return out.getvalue()


TYPES = [("image/png", "PNG"), ("image/jpeg", "JPEG"), ("image/webp", "WEBP")]


@pytest.mark.parametrize("media_type, kind", TYPES)
async def test_every_accepted_type_round_trips_as_a_raw_body(world, media_type, kind):
    api = world.api
    headers = {**api.auth(U1), "Content-Type": media_type}
    response = await api.client.post("/api/uploads", content=image_bytes(kind), headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "url", "content_type", "width", "height", "bytes"}
    assert (body["content_type"], body["width"], body["height"]) == (media_type, 32, 24)
    served = await api.client.get("/outputs/" + body["url"].split("/outputs/", 1)[1])
    assert served.status_code == 200
    assert served.headers["content-type"].startswith(media_type)
    assert len(served.content) == body["bytes"]
    assert Image.open(io.BytesIO(served.content)).format == kind
    again = await api.client.get(f"/api/uploads/{body['id']}", headers=api.auth(U1))
    assert again.json() == body
    assert U1 not in body["url"]


async def test_a_multipart_upload_with_one_file_is_accepted(world):
    api = world.api
    files = {"file": ("photo.jpg", image_bytes("JPEG"), "image/jpeg")}
    response = await api.client.post("/api/uploads", files=files, headers=api.auth(U1))
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/jpeg"


async def test_multipart_with_two_files_is_refused(world):
    api = world.api
    files = [("a", ("a.png", image_bytes("PNG"), "image/png")), ("b", ("b.png", image_bytes("PNG"), "image/png"))]
    response = await api.client.post("/api/uploads", files=files, headers=api.auth(U1))
    assert response.status_code == 400
    assert world.stored() == []


async def test_exif_location_is_stripped_and_the_rest_kept(world):
    api = world.api
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8825] = {1: "N", 2: (59.0, 26.0, 0.0)}  # GPSInfo
    original = image_bytes("JPEG", exif=exif)
    assert 0x8825 in Image.open(io.BytesIO(original)).getexif()
    headers = {**api.auth(U1), "Content-Type": "image/jpeg"}
    body = (await api.client.post("/api/uploads", content=original, headers=headers)).json()
    served = await api.client.get("/outputs/" + body["url"].split("/outputs/", 1)[1])
    kept = Image.open(io.BytesIO(served.content)).getexif()
    assert 0x8825 not in kept and kept.get(0x010F) == "CameraMaker"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb() -> bytes:
    """A valid PNG header claiming 30000×30000 pixels, with a tiny compressed body."""
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 100_000, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


HOSTILE = {
    "png header on random bytes": (b"\x89PNG\r\n\x1a\n" + os.urandom(2000), "image/png", 400),
    "png header, random bytes, png trailer": (
        b"\x89PNG\r\n\x1a\n" + os.urandom(2000) + _png_chunk(b"IEND", b""), "image/png", 400
    ),
    "a decompression bomb": (bomb(), "image/png", 400),
    "a polyglot (png + zip)": (image_bytes("PNG") + b"PK\x03\x04" + os.urandom(200), "image/png", 400),
    "a jpeg declared as png": (image_bytes("JPEG"), "image/png", 400),
    "an svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml", 415),
    "an svg declared as png": (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/png", 400),
    "a 0-byte file": (b"", "image/png", 400),
    "over the limit": (b"\x89PNG\r\n\x1a\n" + b"\x00" * (LIMIT + 1), "image/png", 413),
    "no content type": (image_bytes("PNG"), "application/octet-stream", 415),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_files_are_refused_and_nothing_is_stored(world, name):
    content, media_type, status = HOSTILE[name]
    api = world.api
    headers = {**api.auth(U1), "Content-Type": media_type}
    response = await api.client.post("/api/uploads", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]
    assert world.stored() == []


async def test_an_upload_is_its_owners_alone(world):
    api = world.api
    headers = {**api.auth(OWNER), "Content-Type": "image/png"}
    upload = (await api.client.post("/api/uploads", content=image_bytes("PNG"), headers=headers)).json()
    assert (await api.client.get(f"/api/uploads/{upload['id']}", headers=api.auth(OTHER))).status_code == 404
    body = {"action": "upscale", "model_id": "real-esrgan", "input_image_url": upload["url"], "settings": {}}
    stolen = await api.client.post("/api/generations/create", json=body, headers=api.auth(OTHER))
    assert stolen.status_code == 404, stolen.text
    assert api.inference.predictions == {}


@pytest.mark.parametrize("action, model_id", [("edit", "nano-banana-edit"), ("upscale", "real-esrgan"), ("remove_bg", "birefnet")])
async def test_an_upload_is_an_input_and_replicate_gets_a_data_url(world, action, model_id):
    api = world.api
    headers = {**api.auth(OWNER), "Content-Type": "image/png"}
    upload = (await api.client.post("/api/uploads", content=image_bytes("PNG"), headers=headers)).json()
    assert upload["url"].startswith("http://testserver.local/outputs/uploads/")  # loopback-ish, our own
    body = {"action": action, "model_id": model_id, "input_image_url": upload["url"], "settings": {}}
    if action == "edit":
        body["prompt"] = "make it blue"
    created = await api.client.post("/api/generations/create", json=body, headers=api.auth(OWNER))
    assert created.status_code == 201, created.text
    [prediction] = api.inference.predictions.values()
    sent = [v for v in prediction.input.values() if isinstance(v, (str, list))]
    flat = [x for v in sent for x in (v if isinstance(v, list) else [v])]
    assert any(x.startswith("data:image/png;base64,") for x in flat), prediction.input
    stored = await api.client.get(f"/api/generations/{created.json()['id']}", headers=api.auth(OWNER))
    assert stored.json()["input_image_url"] == upload["url"]
