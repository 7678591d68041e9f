"""Replicate's own clients, unchanged, against a real `base simulator` process."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError
from sim_helpers import BIREFNET, ESRGAN, decode, png_bytes

from replicate_simulator import KNOWN_MODELS

BASE = Path(sys.executable).with_name("base")
NODE_DIR = Path(__file__).with_name("node")
TOKEN = "r8_official_client"
pytestmark = pytest.mark.slow

INPUTS = {
    "black-forest-labs/flux-schnell": {"prompt": "a red fox", "num_outputs": 2},
    "google/nano-banana": {"prompt": "make it blue"},
    "nightmareai/real-esrgan": {"scale": 2},
    "men1scus/birefnet": {},
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    process = subprocess.Popen(
        [str(BASE), "simulator", "--port", "0", "--token", TOKEN, "--processing-delay", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        match = re.search(r"serving on (http://\S+)", process.stdout.readline())
        assert match, "the simulator did not announce its address"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def client(base_url: str) -> replicate.Client:
    made = replicate.Client(api_token=TOKEN, base_url=base_url)
    made.poll_interval = 0.05
    return made


@pytest.fixture(scope="module")
def image_url(client: replicate.Client) -> str:
    upload = client.files.create(io.BytesIO(png_bytes((24, 16))), filename="square.png")
    return upload.urls["get"]


def _input(ref: str, image_url: str) -> dict[str, object]:
    given = dict(INPUTS[ref])
    if ref == "google/nano-banana":
        given["image_input"] = [image_url]
    elif ref in ("nightmareai/real-esrgan", "men1scus/birefnet"):
        given["image"] = image_url
    return given


def _images(output: object) -> list[bytes]:
    urls = output if isinstance(output, list) else [output]
    assert urls and all(isinstance(u, str) for u in urls), output
    return [httpx.get(str(u)).raise_for_status().content for u in urls]


@pytest.mark.parametrize("model", KNOWN_MODELS, ids=lambda m: m.name)
def test_run_by_version(client: replicate.Client, image_url: str, model) -> None:  # type: ignore[no-untyped-def]
    output = client.run(f"{model.ref}:{model.version}", input=_input(model.ref, image_url))
    files = _images(output)
    assert len(files) == (2 if model.ref == "black-forest-labs/flux-schnell" else 1)
    sizes = [decode(data).size for data in files]
    if model.task == "upscale":
        assert sizes == [(48, 32)]
    if model.task == "remove_background":
        assert decode(files[0]).mode == "RGBA"


@pytest.mark.parametrize("model", KNOWN_MODELS, ids=lambda m: m.name)
def test_run_by_name(client: replicate.Client, image_url: str, model) -> None:  # type: ignore[no-untyped-def]
    if model.official:
        output = client.run(model.ref, input=_input(model.ref, image_url))
        assert all(decode(data).width > 0 for data in _images(output))
        return
    # A community model runs only with a version, as on Replicate.
    with pytest.raises(ReplicateError) as caught:
        client.run(model.ref, input=_input(model.ref, image_url))
    assert caught.value.status == 404 and "version" in (caught.value.detail or "")


def test_models_and_versions(client: replicate.Client) -> None:
    model = client.models.get("nightmareai/real-esrgan")
    assert (model.owner, model.name, model.visibility) == ("nightmareai", "real-esrgan", "public")
    assert model.latest_version is not None and model.latest_version.id == ESRGAN
    schema = model.latest_version.openapi_schema["components"]["schemas"]
    assert schema["Input"]["required"] == ["image"]
    assert schema["Input"]["properties"]["scale"]["default"] == 4.0
    assert schema["Output"] == {"type": "string", "format": "uri", "title": "Output"}

    flux = client.models.get("black-forest-labs", "flux-schnell")
    flux_schema = flux.latest_version.openapi_schema["components"]["schemas"]  # type: ignore[union-attr]
    assert flux_schema["Output"]["type"] == "array"
    assert flux_schema["aspect_ratio"]["enum"][0] == "1:1"

    version = client.models.get("men1scus/birefnet").versions.get(BIREFNET)
    assert version.id == BIREFNET and version.cog_version
    listed = client.models.get("men1scus/birefnet").versions.list()
    assert [v.id for v in listed.results] == [BIREFNET] and listed.next is None

    with pytest.raises(ReplicateError) as caught:
        client.models.get("nobody/nothing")
    assert caught.value.status == 404
    with pytest.raises(ReplicateError) as caught:
        client.models.get("men1scus/birefnet").versions.get("0" * 64)
    assert caught.value.status == 404


def test_predictions_list_across_two_pages(client: replicate.Client) -> None:
    before = {p.id for page in replicate.pagination.paginate(client.predictions.list) for p in page}
    created = [
        client.predictions.create(version=BIREFNET, input={"image": "data:,x"}).id
        for _ in range(101)
    ]
    first = client.predictions.list()
    assert len(first.results) == 100 and first.previous is None and first.next
    assert [p.id for p in first.results[:101]] == created[::-1][:100]
    second = client.predictions.list(first.next)
    assert created[0] in [p.id for p in second.results] and second.previous
    assert {p.id for p in first.results} | {p.id for p in second.results} >= set(created)
    assert len(first.results) + len(second.results) == len(before) + 101
    back = client.predictions.list(second.previous)
    assert [p.id for p in back.results] == [p.id for p in first.results]


def test_create_wait_and_cancel(client: replicate.Client) -> None:
    prediction = client.models.predictions.create(
        model="black-forest-labs/flux-schnell", input={"prompt": "a boat"}
    )
    assert prediction.status == "starting" and prediction.model == "black-forest-labs/flux-schnell"
    prediction.wait()
    assert prediction.status == "succeeded" and len(prediction.output) == 1
    assert prediction.metrics and prediction.metrics["image_count"] == 1

    unchanged = client.predictions.cancel(prediction.id)
    assert (unchanged.status, unchanged.output) == ("succeeded", prediction.output)
    assert unchanged.completed_at == prediction.completed_at

    waited = client.predictions.create(version=ESRGAN, input={"image": "data:,x"}, wait=True)
    assert waited.status == "failed" and waited.error

    running = client.predictions.create(version=BIREFNET, input={"image": "data:,x"})
    canceled = client.predictions.cancel(running.id)
    assert canceled.status == "canceled" and canceled.completed_at


def test_files_and_account(client: replicate.Client, base_url: str) -> None:
    data = png_bytes((10, 10))
    upload = client.files.create(io.BytesIO(data), filename="dot.png", metadata={"kind": "test"})
    assert (upload.name, upload.content_type, upload.size) == ("dot.png", "image/png", len(data))
    assert upload.metadata == {"kind": "test"} and upload.expires_at
    assert upload.urls["get"] == f"{base_url}/v1/files/{upload.id}"
    again = client.files.get(upload.id)
    assert again.checksums == upload.checksums and len(again.checksums["sha256"]) == 64
    assert upload.id in [f.id for f in client.files.list()]
    download = httpx.get(
        f"{upload.urls['get']}/download", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert download.content == data
    assert client.files.delete(upload.id) is True
    with pytest.raises(ReplicateError) as caught:
        client.files.get(upload.id)
    assert caught.value.status == 404

    account = client.accounts.current()
    assert (account.type, account.username) == ("user", TOKEN)


def test_errors(client: replicate.Client, base_url: str) -> None:
    with pytest.raises(ReplicateError) as invalid:
        client.run("black-forest-labs/flux-schnell", input={"prompt": "x", "num_outputs": 9})
    assert (invalid.value.status, invalid.value.title) == (422, "Input validation failed")
    assert "num_outputs" in (invalid.value.detail or "")

    stranger = replicate.Client(api_token="r8_unknown", base_url=base_url)
    with pytest.raises(ReplicateError) as unauthenticated:
        stranger.predictions.list()
    assert (unauthenticated.value.status, unauthenticated.value.title) == (401, "Unauthenticated")

    for method, path in [("GET", "/v1/nothing"), ("DELETE", "/v1/predictions")]:
        response = httpx.request(method, f"{base_url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404 and response.json()["title"]


def test_node_client(base_url: str, image_url: str) -> None:
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules" / "replicate").is_dir()
    if node is None or not installed:
        reason = "node is not installed" if node is None else f"run `npm ci` in {NODE_DIR}"
        if os.environ.get("BASE_TEST_REQUIRE_NODE") == "1":
            pytest.fail(f"BASE_TEST_REQUIRE_NODE=1 but {reason}")
        pytest.skip(reason)
    result = subprocess.run(
        [node, str(NODE_DIR / "clients.mjs")],
        env={**os.environ, "SIM_URL": base_url, "SIM_TOKEN": TOKEN, "SIM_IMAGE": image_url},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert len(seen["flux"]) == 1 and decode(httpx.get(seen["flux"][0]).content).width > 0
    assert decode(httpx.get(seen["esrgan"]).content).size == (48, 32)
    assert seen["created"]["status"] == "starting" and seen["created"]["model"] == "men1scus/birefnet"
    assert seen["fetched"]["id"] == seen["created"]["id"]
    assert seen["fetched"]["status"] == "succeeded" and seen["fetched"]["output"].startswith(base_url)
