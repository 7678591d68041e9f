"""Helpers for the Replicate adapter tests: a studio on the simulator, a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from adapters.memory import MemoryStore
from adapters.replicate import ReplicateWebhooks
from base_core.errors import BaseError
from base_core.generation import PredictionUpdate
from base_core.image_urls import UrlPolicy
from base_core.ledger import EntryKind
from base_core.ports import Clock, InferenceProvider, TokenCredential, WebhookTarget
from base_core.registry import GenerationRequest, ModelRegistry, builtin_registry
from base_core.studio import Studio
from base_core.usecases.context import Context, StudioConfig
from base_testing import SequentialIds

USER = "user-1"
INITIAL_CREDITS = 100
FLUX_REQUEST = GenerationRequest(action="create", model_id="flux-schnell", prompt="a red fox")


def build_studio(
    inference: InferenceProvider,
    clock: Clock,
    *,
    store: MemoryStore | None = None,
    webhook: WebhookTarget | None = None,
    registry: ModelRegistry | None = None,
) -> Studio:
    context = Context(
        uow=store or MemoryStore(),
        inference=inference,
        registry=registry or builtin_registry(),
        clock=clock,
        ids=SequentialIds(),
        config=StudioConfig(
            initial_credits=INITIAL_CREDITS,
            webhook=webhook,
            urls=UrlPolicy(allow_private_hosts=True),
        ),
    )
    return Studio(context)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "") -> None:
    """Wait for a condition, polling; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what or 'a condition'}"
        await asyncio.sleep(0.01)


async def settled_once(studio: Studio, user_id: str = USER) -> bool:
    kinds = [entry.kind for entry in await studio.ledger(user_id)]
    return kinds.count(EntryKind.HOLD) == 1 and kinds.count(EntryKind.SETTLE) == 1 and EntryKind.VOID not in kinds


@attrs.define
class Delivery:
    webhook_id: str
    prediction_id: str | None
    prediction_status: str | None
    answered: int


@attrs.define
class WebhookReceiver:
    """A small loopback HTTP server doing what the API's webhook endpoint does."""

    verifier: ReplicateWebhooks
    studio: Studio
    url: str = ""
    deliveries: list[Delivery] = attrs.field(factory=list)
    _server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/api/webhook/replicate"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def received(self, prediction_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.prediction_id == prediction_id]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status, update = await self._apply(headers, body)
            self.deliveries.append(
                Delivery(
                    headers.get("webhook-id", ""),
                    update.prediction_id if update else None,
                    _status_of(body) if update else None,  # Replicate's word, as it sent it
                    status,
                )
            )
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()

    async def _apply(self, headers: dict[str, str], body: bytes) -> tuple[int, PredictionUpdate | None]:
        try:
            verified = await self.verifier.verify(headers, body)
        except BaseError:
            return 401, None
        await self.studio.apply_update(verified.update, verified.delivery_id)
        return 200, verified.update


@attrs.define
class CreateHeldBack:
    """Wraps a provider so create answers only once `release(prediction_id)` is true:
    Replicate's webhooks then reach us before the create call has stored the prediction."""

    inner: Any
    release: Callable[[str], bool]
    timeout: float = 10.0

    async def create(self, token: TokenCredential, model: str, data: dict[str, Any], webhook: Any) -> PredictionUpdate:
        update: PredictionUpdate = await self.inner.create(token, model, data, webhook)

        async def released() -> bool:
            return self.release(update.prediction_id)

        await eventually(released, self.timeout, "the early webhooks")
        return update

    async def get(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self.inner.get(token, prediction_id)  # type: ignore[no-any-return]

    async def cancel(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self.inner.cancel(token, prediction_id)  # type: ignore[no-any-return]


def _status_of(body: bytes) -> str | None:
    status = json.loads(body).get("status")
    return status if isinstance(status, str) else None
