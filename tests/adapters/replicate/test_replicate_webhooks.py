"""Webhook signatures: only Replicate's, signed with the right account's secret, in time."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets as random
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import attrs
import pytest
from replicate_support import FLUX_REQUEST, USER, build_studio

from adapters.replicate import (
    ReplicateInference,
    ReplicateWebhooks,
    WebhookSecrets,
    sign,
    webhook_target,
)
from adapters.replicate.webhooks import Candidate
from base_core.errors import BaseError, InvalidRequest, Unauthenticated
from base_core.generation import Trigger
from base_core.ports import TokenCredential
from base_core.studio import Studio
from base_testing import ManualClock
from replicate_simulator import Simulator
from replicate_simulator.accounts import new_secret

TOKEN_A, TOKEN_A2, TOKEN_B = "r8_account_a_0001", "r8_account_a_0002", "r8_account_b_0003"
SECRET_PATH = "/v1/webhooks/default/secret"


@attrs.frozen
class Setup:
    sim: Simulator
    studio: Studio
    clock: ManualClock
    verifier: ReplicateWebhooks
    secrets: WebhookSecrets
    of_a: str  # a prediction created with TOKEN_A
    of_b: str  # a prediction created with TOKEN_B

    def secret(self, token: str) -> str:
        return self.sim.secret_for_token(token)

    def fetches(self, token: str) -> int:
        return sum(1 for r in self.sim.requests(token) if r.path == SECRET_PATH)

    def signed(
        self,
        secret: str,
        prediction_id: str,
        *,
        status: str = "succeeded",
        age: float = 0,
        webhook_id: str = "msg_0001",
        more_signatures: tuple[str, ...] = (),
    ) -> tuple[dict[str, str], bytes]:
        body = prediction_body(prediction_id, status)
        timestamp = int(self.clock.now().timestamp() - age)
        signature = " ".join([*more_signatures, sign(secret, webhook_id, timestamp, body)])
        headers = {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
        return headers, body


def prediction_body(prediction_id: str, status: str = "succeeded") -> bytes:
    data: dict[str, Any] = {
        "id": prediction_id,
        "model": "black-forest-labs/flux-schnell",
        "status": status,
        "output": ["https://replicate.delivery/x/out-0.webp"] if status == "succeeded" else None,
        "error": None,
        "metrics": {"predict_time": 1.25},
        "completed_at": "2025-11-24T10:00:01.500000Z" if status == "succeeded" else None,
    }
    return json.dumps(data).encode()


def rotate_secret(sim: Simulator, token: str) -> str:
    """Give the token's account a new signing secret, as Replicate does on rotation.

    The simulator has no public way to rotate, so this replaces the kept secret directly."""
    accounts = sim.engine.accounts
    account = accounts.account_for(token)
    assert account is not None
    with accounts._lock:
        accounts._secrets[account] = new_secret()
    return sim.secret_for_token(token)


def foreign_secret() -> str:
    return "whsec_" + base64.b64encode(random.token_bytes(32)).decode()


@pytest.fixture
async def setup(sim: Simulator, inference: ReplicateInference) -> AsyncIterator[Setup]:
    sim.add_token(TOKEN_A, "acct-a")
    sim.add_token(TOKEN_A2, "acct-a")
    sim.add_token(TOKEN_B, "acct-b")
    clock = ManualClock()
    studio = build_studio(inference, clock)
    for token in (TOKEN_A, TOKEN_B, TOKEN_A2):
        await studio.add_token(token)
    await studio.ensure_user(USER)
    first = await studio.create_generation(USER, FLUX_REQUEST)
    second = await studio.create_generation(USER, FLUX_REQUEST)
    assert first.prediction_id and second.prediction_id
    secrets = WebhookSecrets(studio.context.uow, inference.webhook_secret, clock=clock)
    verifier = ReplicateWebhooks(secrets, clock)
    yield Setup(sim, studio, clock, verifier, secrets, first.prediction_id, second.prediction_id)


async def test_a_valid_webhook_verifies(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a, webhook_id="msg_abc")
    verified = await setup.verifier.verify(headers, body)
    assert verified.delivery_id == "msg_abc"
    update = verified.update
    assert (update.prediction_id, update.trigger) == (setup.of_a, Trigger.SUCCEED)
    assert update.output == ("https://replicate.delivery/x/out-0.webp",)
    assert update.predict_time == 1.25
    assert update.completed_at is not None and update.completed_at.isoformat() == "2025-11-24T10:00:01.500000+00:00"


async def test_headers_are_matched_whatever_their_case(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    shouted = {name.title(): value for name, value in headers.items()}
    assert (await setup.verifier.verify(shouted, body)).update.prediction_id == setup.of_a


async def test_one_good_signature_among_several_is_enough(setup: Setup) -> None:
    stale_key = sign(foreign_secret(), "msg_0001", int(setup.clock.now().timestamp()), b"{}")
    headers, body = setup.signed(
        setup.secret(TOKEN_A), setup.of_a, more_signatures=(stale_key, "v2,abc", "v1,!!notbase64!!")
    )
    assert (await setup.verifier.verify(headers, body)).update.trigger is Trigger.SUCCEED


async def test_a_tampered_body_is_refused(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    tampered = body.replace(b"out-0.webp", b"evil-0.webp")
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, tampered)


async def test_a_different_webhook_id_is_refused(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify({**headers, "webhook-id": "msg_other"}, body)


async def test_a_wrong_secret_is_refused(setup: Setup) -> None:
    headers, body = setup.signed(foreign_secret(), setup.of_a)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)


@pytest.mark.parametrize(("age", "accepted"), [(299, True), (-299, True), (301, False), (-301, False), (86_400, False)])
async def test_timestamps_must_be_within_five_minutes_either_way(setup: Setup, age: float, accepted: bool) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a, age=age)
    if accepted:
        assert (await setup.verifier.verify(headers, body)).update.prediction_id == setup.of_a
    else:
        with pytest.raises(Unauthenticated):
            await setup.verifier.verify(headers, body)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_missing_header_is_refused(setup: Setup, missing: str) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    del headers[missing]
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify({**headers, missing: "  "}, body)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("webhook-signature", "v1,!!!not-base64!!!"),
        ("webhook-signature", "v1,"),
        ("webhook-signature", "v1"),
        ("webhook-signature", "garbage"),
        ("webhook-signature", "v2,c2lnbmF0dXJl"),
        ("webhook-signature", "v1,c2ln\x00"),
        ("webhook-signature", " ".join(["v1,AAAA"] * 100)),
        ("webhook-timestamp", "not-a-number"),
        ("webhook-timestamp", "-5"),
        ("webhook-timestamp", "1.7e9"),
        ("webhook-timestamp", "9" * 40),
        ("webhook-id", "x" * 1000),
        ("webhook-id", "msg\x00id"),
    ],
)
async def test_malformed_headers_are_refused_without_other_errors(setup: Setup, header: str, value: str) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify({**headers, header: value}, body)


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe", b"[]", b'{"status": "succeeded"}', b"[" * 100_000])
async def test_a_body_that_is_not_a_prediction_is_refused(setup: Setup, body: bytes) -> None:
    headers, _ = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    timestamp = int(headers["webhook-timestamp"])
    headers["webhook-signature"] = sign(setup.secret(TOKEN_A), headers["webhook-id"], timestamp, body)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)


async def test_a_signed_body_without_a_status_is_a_bad_request(setup: Setup) -> None:
    body = json.dumps({"id": setup.of_a}).encode()
    timestamp = int(setup.clock.now().timestamp())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(setup.secret(TOKEN_A), "msg_1", timestamp, body),
    }
    with pytest.raises(InvalidRequest):
        await setup.verifier.verify(headers, body)


async def test_each_accounts_secret_is_fetched_once_and_kept(setup: Setup) -> None:
    for n in range(3):
        headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a, webhook_id=f"msg_{n}")
        await setup.verifier.verify(headers, body)
    # Concurrent first deliveries for the other account share one fetch.
    deliveries = [setup.signed(setup.secret(TOKEN_B), setup.of_b, webhook_id=f"msg_b{n}") for n in range(5)]
    await asyncio.gather(*(setup.verifier.verify(h, b) for h, b in deliveries))
    assert setup.fetches(TOKEN_A) == 1
    assert setup.fetches(TOKEN_B) == 1
    assert setup.fetches(TOKEN_A2) == 0


async def test_a_prediction_is_verified_with_its_own_accounts_secret_only(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_B), setup.of_b)
    assert (await setup.verifier.verify(headers, body)).update.prediction_id == setup.of_b
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_b)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)
    headers, body = setup.signed(setup.secret(TOKEN_B), setup.of_a)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)
    assert setup.secret(TOKEN_A) != setup.secret(TOKEN_B)


async def test_a_prediction_not_stored_yet_is_verified_with_any_active_tokens_secret(setup: Setup) -> None:
    unknown = "early0prediction0000000000"
    headers, body = setup.signed(setup.secret(TOKEN_B), unknown)
    assert (await setup.verifier.verify(headers, body)).update.prediction_id == unknown
    headers, body = setup.signed(foreign_secret(), unknown)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)
    # Retired tokens are not asked.
    for token in (await setup.studio.token_stats()).tokens:
        await setup.studio.set_token_active(token.id, False)
    setup.secrets.forget()
    headers, body = setup.signed(setup.secret(TOKEN_B), unknown)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)


async def test_a_secret_that_cannot_be_fetched_refuses_the_webhook(setup: Setup) -> None:
    setup.sim.faults.for_token(TOKEN_A, operation="secret", status=500)
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)
    # Not cached as a failure: once Replicate answers, the same delivery verifies.
    setup.sim.faults.clear()
    assert (await setup.verifier.verify(headers, body)).update.prediction_id == setup.of_a


async def test_a_configured_secret_is_used_without_asking_replicate(setup: Setup) -> None:
    configured = foreign_secret()
    verifier = ReplicateWebhooks(WebhookSecrets.fixed(configured), setup.clock)
    headers, body = setup.signed(configured, setup.of_a)
    assert (await verifier.verify(headers, body)).update.prediction_id == setup.of_a
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    with pytest.raises(Unauthenticated):
        await verifier.verify(headers, body)
    assert setup.fetches(TOKEN_A) == 0


class _WatchedSecrets(WebhookSecrets):
    """Notes when the candidates' generator is closed."""

    closed = 0

    async def candidates(self, prediction_id: str) -> AsyncGenerator[Candidate, None]:
        try:
            async for candidate in super().candidates(prediction_id):
                yield candidate
        finally:
            self.closed += 1


async def test_the_candidates_are_closed_before_the_verdict_not_later_by_the_loop(setup: Setup) -> None:
    # A generator left suspended after a match is closed by the event loop's finalizer
    # hook, through call_soon_threadsafe and a task of its own, some time after.
    configured = foreign_secret()
    secrets = _WatchedSecrets(configured=configured)
    verifier = ReplicateWebhooks(secrets, setup.clock)
    headers, body = setup.signed(configured, setup.of_a)
    await verifier.verify(headers, body)
    assert secrets.closed == 1


async def test_errors_never_show_a_secret(setup: Setup) -> None:
    secret = setup.secret(TOKEN_A)
    headers, body = setup.signed(foreign_secret(), setup.of_a)
    with pytest.raises(BaseError) as caught:
        await setup.verifier.verify(headers, body)
    for text in (str(caught.value), repr(caught.value)):
        assert secret not in text and TOKEN_A not in text


async def test_the_secret_of_a_token_comes_from_replicate(setup: Setup, inference: ReplicateInference) -> None:
    fetched = await inference.webhook_secret(TokenCredential("a", TOKEN_A))
    assert fetched == setup.secret(TOKEN_A) == setup.secret(TOKEN_A2)


def test_the_webhook_target_follows_the_public_url() -> None:
    assert webhook_target(None) is None
    assert webhook_target("  ") is None
    target = webhook_target("https://studio.example.com/")
    assert target is not None
    assert target.url == "https://studio.example.com/api/webhook/replicate"
    assert target.events == ("start", "completed")


def test_a_secrets_source_needs_a_way_to_find_secrets() -> None:
    with pytest.raises(ValueError):
        WebhookSecrets()


async def test_the_usual_wiring_prefers_a_configured_secret(setup: Setup, inference: ReplicateInference) -> None:
    configured = foreign_secret()
    fetched = ReplicateWebhooks.build(setup.studio.context.uow, inference.webhook_secret, setup.clock)
    fixed = ReplicateWebhooks.build(setup.studio.context.uow, inference.webhook_secret, setup.clock, configured)
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    assert (await fetched.verify(headers, body)).update.prediction_id == setup.of_a
    with pytest.raises(Unauthenticated):
        await fixed.verify(headers, body)
    headers, body = setup.signed(configured, setup.of_a)
    assert (await fixed.verify(headers, body)).update.prediction_id == setup.of_a


async def test_after_a_rotation_the_secret_is_fetched_again_and_later_webhooks_verify(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a, webhook_id="msg_before")
    await setup.verifier.verify(headers, body)
    old = setup.secret(TOKEN_A)
    new = rotate_secret(setup.sim, TOKEN_A)
    assert new != old
    for n in range(4):
        setup.clock.advance(5)
        headers, body = setup.signed(new, setup.of_a, webhook_id=f"msg_after_{n}")
        assert (await setup.verifier.verify(headers, body)).delivery_id == f"msg_after_{n}"
    assert setup.fetches(TOKEN_A) == 2  # the first fetch, and one after the rotation
    # The old secret no longer signs anything.
    headers, body = setup.signed(old, setup.of_a)
    with pytest.raises(Unauthenticated, match="does not match"):
        await setup.verifier.verify(headers, body)


async def test_concurrent_deliveries_after_a_rotation_share_one_refetch(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_B), setup.of_b, webhook_id="msg_before")
    await setup.verifier.verify(headers, body)
    new = rotate_secret(setup.sim, TOKEN_B)
    deliveries = [setup.signed(new, setup.of_b, webhook_id=f"msg_{n}") for n in range(5)]
    verified = await asyncio.gather(*(setup.verifier.verify(h, b) for h, b in deliveries))
    assert {v.delivery_id for v in verified} == {f"msg_{n}" for n in range(5)}
    assert setup.fetches(TOKEN_B) == 2


async def test_forged_webhooks_refetch_at_most_once_per_interval(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    await setup.verifier.verify(headers, body)
    assert setup.fetches(TOKEN_A) == 1
    for n in range(10):
        setup.clock.advance(2)
        headers, body = setup.signed(foreign_secret(), setup.of_a, webhook_id=f"msg_forged_{n}")
        with pytest.raises(Unauthenticated, match="does not match"):
            await setup.verifier.verify(headers, body)
    assert setup.fetches(TOKEN_A) == 2  # one refetch in the 20 s, not ten
    setup.clock.advance(30)
    headers, body = setup.signed(foreign_secret(), setup.of_a)
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)
    assert setup.fetches(TOKEN_A) == 3


async def test_a_rotated_secret_verifies_an_early_webhook_of_any_active_token(setup: Setup) -> None:
    unknown = "early0prediction0000000001"
    headers, body = setup.signed(setup.secret(TOKEN_B), unknown)
    await setup.verifier.verify(headers, body)
    new = rotate_secret(setup.sim, TOKEN_B)
    headers, body = setup.signed(new, unknown, webhook_id="msg_after")
    assert (await setup.verifier.verify(headers, body)).update.prediction_id == unknown


async def test_a_failed_refetch_keeps_the_kept_secret_and_refuses_only_the_new_one(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a)
    await setup.verifier.verify(headers, body)
    old = setup.secret(TOKEN_A)
    new = rotate_secret(setup.sim, TOKEN_A)
    setup.sim.faults.for_token(TOKEN_A, operation="secret", status=500)
    headers, body = setup.signed(new, setup.of_a, webhook_id="msg_new")
    with pytest.raises(Unauthenticated):
        await setup.verifier.verify(headers, body)
    headers, body = setup.signed(old, setup.of_a, webhook_id="msg_old")
    assert (await setup.verifier.verify(headers, body)).delivery_id == "msg_old"
    # Once Replicate answers again (and the interval passed), the new secret is fetched.
    setup.sim.faults.clear()
    setup.clock.advance(31)
    headers, body = setup.signed(new, setup.of_a, webhook_id="msg_new")
    assert (await setup.verifier.verify(headers, body)).delivery_id == "msg_new"


async def test_a_signed_body_with_a_status_replicate_does_not_send_is_a_bad_request(setup: Setup) -> None:
    headers, body = setup.signed(setup.secret(TOKEN_A), setup.of_a, status="exploded")
    with pytest.raises(InvalidRequest, match="unknown prediction status 'exploded'"):
        await setup.verifier.verify(headers, body)
