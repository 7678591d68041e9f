"""Helpers shared by the simulator tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import replicate
from PIL import Image

from replicate_simulator import Simulator, SimulatorConfig

GOOD = "r8_good"
OTHER = "r8_other"
SAME_ACCOUNT = "r8_same_account"
ESRGAN = "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"
BIREFNET = "f74986db0355b58403ed20963af156525e2891ea3c2d499bfbfb2a28cd87c5d7"
TERMINAL = {"succeeded", "failed", "canceled", "aborted"}


def fast_config(**overrides: Any) -> SimulatorConfig:
    fields: dict[str, Any] = {
        "tokens": [GOOD, OTHER],
        "accounts": {SAME_ACCOUNT: GOOD},
        "starting_delay": 0.02,
        "processing_delay": 0.05,
        "webhook_backoff": 0.02,
    }
    fields.update(overrides)
    return SimulatorConfig(**fields)




def auth(token: str = GOOD) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_for(sim: Simulator, token: str = GOOD, **kwargs: Any) -> replicate.Client:
    client = replicate.Client(api_token=token, base_url=sim.base_url, **kwargs)
    client.poll_interval = 0.02
    return client


async def wait_until_done(
    http: httpx.AsyncClient, prediction_id: str, token: str = GOOD, timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(f"/v1/predictions/{prediction_id}", headers=auth(token))
        body: dict[str, Any] = response.json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, f"prediction still {body['status']}"
        await asyncio.sleep(0.02)


async def recorded_attempts(
    sim: Simulator, prediction_id: str, count: int, timeout: float = 10
) -> list[Any]:
    """The simulator's webhook attempts once `count` are recorded: an attempt is recorded
    after its answer arrives, which can be after the receiver has seen the request."""
    deadline = time.monotonic() + timeout
    while len(attempts := sim.webhook_attempts(prediction_id)) < count:
        assert time.monotonic() < deadline, f"only {len(attempts)} webhook attempts recorded"
        await asyncio.sleep(0.02)
    return attempts


async def create_flux(
    http: httpx.AsyncClient, token: str = GOOD, **body: Any
) -> dict[str, Any]:
    body.setdefault("input", {"prompt": "a red fox"})
    response = await http.post(
        "/v1/models/black-forest-labs/flux-schnell/predictions", json=body, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def png_bytes(size: tuple[int, int], colour: tuple[int, ...] = (255, 255, 255)) -> bytes:
    """A plain background with a dark square in the middle."""
    image = Image.new("RGB", size, colour[:3])
    width, height = size
    image.paste((20, 40, 160), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def signature_is_valid(
    headers: httpx.Headers | dict[str, str], body: bytes, secret: str, tolerance: int = 300
) -> bool:
    """Standard Webhooks, as REFERENCE.md describes it."""
    webhook_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for entry in headers["webhook-signature"].split():
        version, _, encoded = entry.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(encoded), expected):
            return True
    return False


@attrs.define
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@attrs.define
class WebhookReceiver:
    """A tiny loopback HTTP server that records what it is sent."""

    url: str = ""
    received: list[Received] = attrs.field(factory=list)
    statuses: list[int] = attrs.field(factory=list)  # answered in turn, then 200
    arrived: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(headers, body))
            self.arrived.set()
            status = self.statuses.pop(0) if self.statuses else 200
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            writer.close()

    async def wait_for(
        self, condition: Callable[[list[Received]], bool], timeout: float = 5
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while not condition(self.received):
            assert time.monotonic() < deadline, f"webhooks so far: {[r.json()['status'] for r in self.received]}"
            await asyncio.sleep(0.01)
        return self.received

    def statuses_received(self) -> list[str]:
        return [r.json()["status"] for r in self.received]
