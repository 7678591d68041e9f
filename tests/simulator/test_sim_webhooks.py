"""Webhooks: signed per account, filtered by event, retried, and misbehaving on request."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import replicate
from replicate.webhook import WebhookSigningSecret
from sim_helpers import (
    BIREFNET,
    GOOD,
    OTHER,
    SAME_ACCOUNT,
    Received,
    WebhookReceiver,
    auth,
    client_for,
    create_flux,
    png_bytes,
    recorded_attempts,
    signature_is_valid,
)

from replicate_simulator import Simulator, sign


def _terminal(received: list[Received]) -> bool:
    return any(r.json()["status"] in ("succeeded", "failed", "canceled", "aborted") for r in received)


def signature_ok(message: Received, secret: str) -> bool:
    return signature_is_valid(message.headers, message.body, secret)


async def test_start_output_and_completed_arrive_signed(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    created = await create_flux(http, webhook=receiver.url)
    await receiver.wait_for(_terminal)
    await asyncio.sleep(0.05)

    assert receiver.statuses_received() == ["processing", "processing", "succeeded"]
    secret = sim.secret_for_token(GOOD)
    for message in receiver.received:
        assert message.json()["id"] == created["id"]
        assert message.headers["content-type"] == "application/json"
        assert signature_ok(message, secret)
        replicate.webhooks.validate(
            headers=message.headers,
            body=message.body.decode(),
            secret=WebhookSigningSecret(key=secret),
            tolerance=300,
        )
    start, output, completed = (r.json() for r in receiver.received)
    assert start["output"] is None and start["started_at"] is not None
    assert isinstance(output["output"], list)
    assert completed["output"] == output["output"] and completed["completed_at"] is not None
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 3


async def test_a_signature_from_another_secret_is_rejected(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await create_flux(http, webhook=receiver.url, webhook_events_filter=["completed"])
    [message] = await receiver.wait_for(_terminal)
    assert signature_ok(message, sim.secret_for_token(GOOD))
    assert not signature_ok(message, sim.secret_for_token(OTHER))
    tampered = Received(message.headers, message.body.replace(b"succeeded", b"failed"))
    assert not signature_ok(tampered, sim.secret_for_token(GOOD))


async def test_the_secret_is_per_account(sim: Simulator, http: httpx.AsyncClient) -> None:
    keys = {}
    for token in (GOOD, SAME_ACCOUNT, OTHER):
        response = await http.get("/v1/webhooks/default/secret", headers=auth(token))
        assert response.status_code == 200
        keys[token] = response.json()["key"]
    assert keys[GOOD] == keys[SAME_ACCOUNT] == sim.secret_for_token(GOOD)
    assert keys[OTHER] != keys[GOOD]
    assert all(key.startswith("whsec_") for key in keys.values())
    through_client = await client_for(sim, OTHER).webhooks.default.async_secret()
    assert through_client.key == keys[OTHER]


async def test_the_webhook_is_signed_with_the_creating_accounts_secret(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    sim.add_token("r8_new", account="acct-2")
    sim.add_token("r8_new_too", account="acct-2")
    assert sim.secret_for_token("r8_new") == sim.secret_for_account("acct-2")
    await create_flux(
        http, token="r8_new_too", webhook=receiver.url, webhook_events_filter=["completed"]
    )
    [message] = await receiver.wait_for(_terminal)
    assert signature_ok(message, sim.secret_for_account("acct-2"))


async def test_events_filter(http: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    await create_flux(http, webhook=receiver.url, webhook_events_filter=["start"])
    await receiver.wait_for(lambda r: len(r) == 1)
    await asyncio.sleep(0.2)
    assert receiver.statuses_received() == ["processing"]


async def test_cancel_sends_the_terminal_webhook(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    sim.settings.processing_delay = 5
    created = await create_flux(http, webhook=receiver.url, webhook_events_filter=["completed"])
    await http.post(f"/v1/predictions/{created['id']}/cancel", headers=auth())
    [message] = await receiver.wait_for(_terminal)
    assert message.json()["status"] == "canceled"


async def test_the_terminal_webhook_is_retried_with_the_same_id(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500, 503]
    created = await create_flux(http, webhook=receiver.url, webhook_events_filter=["completed"])
    await receiver.wait_for(lambda r: len(r) == 3)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert all(r.body == receiver.received[0].body for r in receiver.received)
    attempts = await recorded_attempts(sim, created["id"], 3)
    assert [(a.attempt, a.response_status) for a in attempts] == [(1, 500), (2, 503), (3, 200)]


async def test_non_terminal_webhooks_are_not_retried(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500]
    created = await create_flux(http, webhook=receiver.url, webhook_events_filter=["start", "completed"])
    await receiver.wait_for(_terminal)
    assert receiver.statuses_received() == ["processing", "succeeded"]
    attempts = await recorded_attempts(sim, created["id"], 2)
    assert [a.response_status for a in attempts] == [500, 200]


async def test_an_unreachable_receiver_gives_up_after_a_few_attempts(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    created = await create_flux(
        http, webhook="http://127.0.0.1:9/nowhere", webhook_events_filter=["completed"]
    )
    for _ in range(200):
        if len(sim.webhook_attempts(created["id"])) == sim.config.webhook_attempts:
            break
        await asyncio.sleep(0.02)
    attempts = sim.webhook_attempts(created["id"])
    assert len(attempts) == 4
    assert all(a.error is not None and a.response_status is None for a in attempts)


async def test_duplicate_webhooks(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    sim.faults.for_token(GOOD, webhook="duplicate", times=1)
    await create_flux(http, webhook=receiver.url, webhook_events_filter=["completed"])
    await receiver.wait_for(lambda r: len(r) == 2)
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert first.json()["status"] == "succeeded"


async def test_out_of_order_webhooks(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    sim.faults.for_token(GOOD, webhook="out_of_order")
    await create_flux(http, webhook=receiver.url, webhook_events_filter=["start", "completed"])
    await receiver.wait_for(lambda r: len(r) == 2)
    assert receiver.statuses_received() == ["succeeded", "processing"]
    assert all(signature_ok(r, sim.secret_for_token(GOOD)) for r in receiver.received)


async def test_lost_webhooks(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    sim.faults.for_token(GOOD, webhook="lost")
    created = await create_flux(http, webhook=receiver.url)
    for _ in range(200):
        if (await http.get(f"/v1/predictions/{created['id']}", headers=auth())).json()["status"] == "succeeded":
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert receiver.received == []
    assert sim.webhook_attempts(created["id"]) == []


async def test_failed_prediction_webhook(
    sim: Simulator, http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    sim.faults.for_token(GOOD, outcome="failed", error="boom")
    await create_flux(http, webhook=receiver.url, webhook_events_filter=["completed"])
    [message] = await receiver.wait_for(_terminal)
    assert (message.json()["status"], message.json()["error"]) == ("failed", "boom")


async def test_webhook_through_the_client(sim: Simulator, receiver: WebhookReceiver) -> None:
    prediction = await client_for(sim).predictions.async_create(
        version=BIREFNET,
        input={"image": sim.upload(png_bytes((16, 16)))},
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )
    [message] = await receiver.wait_for(_terminal)
    assert message.json()["id"] == prediction.id
    assert message.json()["status"] == "succeeded"


@pytest.mark.parametrize("body", [b"{}", b'{"a":"\\u00e9"}'])
def test_sign_matches_the_reference_description(body: bytes) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000"}
    headers["webhook-signature"] = sign(secret, "msg_1", 1700000000, body)
    assert signature_is_valid(headers, body, secret, tolerance=10**10)
