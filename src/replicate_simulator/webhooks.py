"""Outgoing webhooks, signed the Standard Webhooks way and delivered in order.

Each webhook of a prediction is queued behind the previous one, so a receiver sees them
in the order they were sent unless a fault says otherwise. Only terminal webhooks are
retried, as Replicate does; a retry keeps its `webhook-id` and is signed afresh.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable

import attrs
import httpx

from replicate_simulator.accounts import secret_key
from replicate_simulator.state import History, WebhookRecord


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def new_webhook_id() -> str:
    return "msg_" + secrets.token_hex(12)


@attrs.frozen
class Webhook:
    prediction_id: str
    url: str
    secret: str
    payload: dict[str, object]
    terminal: bool
    webhook_id: str = attrs.field(factory=new_webhook_id)

    @property
    def body(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()


@attrs.frozen
class Retries:
    attempts: int = 4
    backoff: float = 0.1
    timeout: float = 5.0


class WebhookSender:
    def __init__(
        self,
        history: History,
        retries: Retries,
        client: Callable[[], httpx.AsyncClient],
        spawn: Callable[..., asyncio.Task[None]],
    ) -> None:
        self._history = history
        self._retries = retries
        self._client = client
        self._spawn = spawn
        self._tails: dict[str, asyncio.Task[None]] = {}

    def send(self, webhook: Webhook) -> None:
        """Queue a webhook behind the ones already queued for its prediction."""
        previous = self._tails.get(webhook.prediction_id)
        task = self._spawn(self._deliver_after(previous, webhook))
        self._tails[webhook.prediction_id] = task
        task.add_done_callback(lambda t: self._forget(webhook.prediction_id, t))

    def _forget(self, prediction_id: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(prediction_id) is task:
            del self._tails[prediction_id]

    async def _deliver_after(self, previous: asyncio.Task[None] | None, webhook: Webhook) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await self.deliver(webhook)

    async def deliver(self, webhook: Webhook) -> bool:
        attempts = self._retries.attempts if webhook.terminal else 1
        body = webhook.body
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self._retries.backoff * 2 ** (attempt - 2))
            if await self._attempt(webhook, body, attempt):
                return True
        return False

    async def _attempt(self, webhook: Webhook, body: bytes, attempt: int) -> bool:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "Replicate-Webhooks/1.0 (simulator)",
            "webhook-id": webhook.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(webhook.secret, webhook.webhook_id, timestamp, body),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = await self._client().post(
                webhook.url, content=body, headers=headers, timeout=self._retries.timeout
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = repr(exc)
        self._history.record_webhook(
            WebhookRecord(
                prediction_id=webhook.prediction_id,
                url=webhook.url,
                webhook_id=webhook.webhook_id,
                prediction_status=str(webhook.payload.get("status")),
                attempt=attempt,
                response_status=status,
                error=error,
                at=time.time(),
            )
        )
        return status is not None and 200 <= status < 300
