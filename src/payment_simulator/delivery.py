"""Sending webhooks the way the providers do: POST, and again on failure, a few times."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import attrs
import httpx


@attrs.define
class Delivery:
    url: str
    body: bytes
    status: int | None = None  # the last answer's status (None: no answer)
    attempts: int = 0


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    retries: int = 3,
    backoff: float = 0.2,
) -> Delivery:
    """POST `body` until a 2xx answer or `retries` more attempts; the last outcome."""
    delivery = Delivery(url, body)
    for attempt in range(retries + 1):
        delivery.attempts += 1
        try:
            response = await client.post(url, content=body, headers=dict(headers))
            delivery.status = response.status_code
            if 200 <= response.status_code < 300:
                return delivery
        except httpx.HTTPError:
            delivery.status = None
        if attempt < retries:
            await asyncio.sleep(backoff * (2**attempt))
    return delivery
