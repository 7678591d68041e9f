"""The token pool at work: the real use cases, Replicate's adapter, the simulator's faults."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from replicate_support import FLUX_REQUEST, INITIAL_CREDITS, USER, build_studio, eventually

from adapters.replicate import ReplicateInference
from base_core.errors import NoTokenAvailable, ProviderInputRejected, ProviderUnavailable
from base_core.generation import Status
from base_core.registry import GenerationRequest, ModelRegistry
from base_core.seed_models import FLUX_SCHNELL, SEED_MODELS
from base_core.studio import Studio
from base_core.tokens import ReplicateToken
from base_testing import ManualClock
from replicate_simulator import Simulator

REJECTED, THROTTLED, BROKEN, GOOD = "r8_rejected_0001", "r8_throttled_0002", "r8_broken_00003", "r8_good_0000004"


async def pool(studio: Studio, sim: Simulator, *secrets: str) -> dict[str, ReplicateToken]:
    tokens = {}
    for secret in secrets:
        sim.add_token(secret)
        tokens[secret] = await studio.add_token(secret, label=secret)
    return tokens


async def token(studio: Studio, token_id: str) -> ReplicateToken:
    async with studio.context.uow() as uow:
        found = await uow.tokens.get(token_id)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("fault", "cooldown"),
    [
        pytest.param({"retry_after": 17, "throttle_seconds": 40}, 17, id="retry-after-header"),
        pytest.param({"throttle_seconds": 42}, 42, id="detail-only"),
        pytest.param({"detail": "Request was throttled."}, 30, id="neither"),
    ],
)
async def test_a_create_fails_over_to_the_good_token(
    sim: Simulator, inference: ReplicateInference, fault: dict[str, object], cooldown: int
) -> None:
    clock = ManualClock()
    studio = build_studio(inference, clock)
    tokens = await pool(studio, sim, REJECTED, THROTTLED, BROKEN, GOOD)
    sim.faults.for_token(REJECTED, status=401)
    sim.faults.for_token(THROTTLED, status=429, **fault)
    sim.faults.for_token(BROKEN, status=500)
    await studio.ensure_user(USER)

    generation = await studio.create_generation(USER, FLUX_REQUEST)

    assert generation.status is Status.PROCESSING
    assert generation.token_id == tokens[GOOD].id
    assert sim.prediction(generation.prediction_id or "")["status"] in ("starting", "processing", "succeeded")
    now = clock.now()
    rejected, throttled = await token(studio, tokens[REJECTED].id), await token(studio, tokens[THROTTLED].id)
    broken, good = await token(studio, tokens[BROKEN].id), await token(studio, tokens[GOOD].id)
    assert not rejected.is_active and rejected.disabled_reason and "401" in rejected.disabled_reason
    assert throttled.is_active and throttled.cooldown_until == now + timedelta(seconds=cooldown)
    assert broken.is_active and broken.cooldown_until is None and broken.consecutive_failures == 1
    for failed in (rejected, throttled, broken):
        assert (failed.request_count, failed.error_count, failed.last_used_at) == (1, 1, now)
    assert (good.request_count, good.error_count, good.last_used_at) == (1, 0, now)
    assert good.cooldown_until is None and good.consecutive_failures == 0
    assert await studio.balance(USER) == INITIAL_CREDITS - generation.cost
    # Each token was asked once; the create went through on the last one.
    assert [len(sim.requests(s)) for s in (REJECTED, THROTTLED, BROKEN, GOOD)] == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("secrets", "wait"),
    [
        # The throttled token frees up first.
        pytest.param((REJECTED, THROTTLED), 17.0, id="throttled"),
        # A token that only failed once may take a retry at once (the policy's floor: 1 s).
        pytest.param((REJECTED, THROTTLED, BROKEN), 1.0, id="throttled-and-broken"),
    ],
)
async def test_with_every_token_failing_credits_are_untouched_and_the_wait_is_told(
    sim: Simulator, inference: ReplicateInference, secrets: tuple[str, ...], wait: float
) -> None:
    clock = ManualClock()
    studio = build_studio(inference, clock)
    tokens = await pool(studio, sim, *secrets)
    sim.faults.for_token(REJECTED, status=401)
    sim.faults.for_token(THROTTLED, status=429, retry_after=17)
    sim.faults.for_token(BROKEN, status=503)
    await studio.ensure_user(USER)

    with pytest.raises(NoTokenAvailable) as caught:
        await studio.create_generation(USER, FLUX_REQUEST)

    assert caught.value.retry_after == wait
    assert await studio.balance(USER) == INITIAL_CREDITS
    page = await studio.generations(_query())
    assert [g.status for g in page.items] == [Status.FAILED]
    assert [len(sim.requests(s)) for s in secrets] == [1] * len(secrets)

    # Once the throttle has passed and the faults are gone, the pool takes work again.
    sim.faults.clear()
    clock.advance(18)
    generation = await studio.create_generation(USER, FLUX_REQUEST)
    assert generation.token_id in (tokens[s].id for s in secrets if s != REJECTED)
    assert not (await token(studio, tokens[REJECTED].id)).is_active
    assert await studio.balance(USER) == INITIAL_CREDITS - generation.cost


async def test_while_every_token_cools_a_create_is_refused_before_anything_is_held(
    sim: Simulator, inference: ReplicateInference
) -> None:
    clock = ManualClock()
    studio = build_studio(inference, clock)
    await pool(studio, sim, THROTTLED)
    sim.faults.for_token(THROTTLED, status=429, retry_after=17)
    await studio.ensure_user(USER)
    with pytest.raises(NoTokenAvailable):
        await studio.create_generation(USER, FLUX_REQUEST)
    clock.advance(5)

    with pytest.raises(NoTokenAvailable) as caught:
        await studio.create_generation(USER, FLUX_REQUEST)

    assert caught.value.retry_after == 12
    assert len(sim.requests(THROTTLED)) == 1  # Replicate was not asked again
    assert await studio.balance(USER) == INITIAL_CREDITS
    assert (await studio.generations(_query())).total == 1


async def test_with_only_retired_tokens_no_wait_is_promised(sim: Simulator, inference: ReplicateInference) -> None:
    studio = build_studio(inference, ManualClock())
    await pool(studio, sim, REJECTED, "r8_out_of_money_1")
    sim.faults.for_token(REJECTED, status=403)
    sim.faults.for_token("r8_out_of_money_1", status=402)
    await studio.ensure_user(USER)
    with pytest.raises(NoTokenAvailable) as caught:
        await studio.create_generation(USER, FLUX_REQUEST)
    assert caught.value.retry_after is None
    assert await studio.balance(USER) == INITIAL_CREDITS
    stats = await studio.token_stats()
    assert stats.totals.active_tokens == 0 and stats.totals.total_errors == 2


async def test_a_refused_input_fails_the_generation_without_touching_tokens_or_credits(
    sim: Simulator, inference: ReplicateInference
) -> None:
    # A catalogue that lets more outputs through than Replicate accepts: Replicate says 422.
    lenient = attrs.evolve(
        FLUX_SCHNELL,
        settings=tuple(attrs.evolve(s, max=9) if s.name == "num_outputs" else s for s in FLUX_SCHNELL.settings),
    )
    registry = ModelRegistry([lenient, *SEED_MODELS[1:]])
    clock = ManualClock()
    studio = build_studio(inference, clock, registry=registry)
    tokens = await pool(studio, sim, GOOD, "r8_second_00005")
    await studio.ensure_user(USER)

    request = GenerationRequest(action="create", model_id="flux-schnell", prompt="fox", settings={"num_outputs": 9})
    with pytest.raises(ProviderInputRejected) as caught:
        await studio.create_generation(USER, request)

    assert "num_outputs" in caught.value.fields
    assert await studio.balance(USER) == INITIAL_CREDITS
    first, second = await token(studio, tokens[GOOD].id), await token(studio, tokens["r8_second_00005"].id)
    assert (first.request_count, first.error_count, first.is_active, first.cooldown_until) == (1, 0, True, None)
    assert second.request_count == 0  # never retried on another token
    page = await studio.generations(_query())
    assert page.items[0].status is Status.FAILED
    assert "num_outputs" in (page.items[0].error_message or "")


async def test_a_slow_token_is_unavailable_and_the_next_one_takes_the_work(sim: Simulator) -> None:
    inference = ReplicateInference(sim.base_url, timeout=1.0)
    try:
        studio = build_studio(inference, ManualClock())
        tokens = await pool(studio, sim, "r8_slow_0000006", GOOD)
        sim.faults.for_token("r8_slow_0000006", delay=3.0, operation="create")
        await studio.ensure_user(USER)

        generation = await studio.create_generation(USER, FLUX_REQUEST)

        assert generation.token_id == tokens[GOOD].id
        slow = await token(studio, tokens["r8_slow_0000006"].id)
        assert (slow.error_count, slow.consecutive_failures, slow.is_active) == (1, 1, True)
    finally:
        await inference.aclose()


async def test_an_unreachable_replicate_is_unavailable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inference = ReplicateInference(f"http://127.0.0.1:{port}", timeout=2.0)
    from base_core.ports import TokenCredential

    with pytest.raises(ProviderUnavailable) as caught:
        await inference.create(TokenCredential("t", GOOD), "black-forest-labs/flux-schnell", {"prompt": "x"}, None)
    assert GOOD not in str(caught.value)
    await inference.aclose()


async def test_an_aborted_prediction_cancels_the_generation_and_refunds(
    sim: Simulator, inference: ReplicateInference
) -> None:
    studio = build_studio(inference, ManualClock())
    await pool(studio, sim, GOOD)
    await studio.ensure_user(USER)
    sim.faults.next_requests(1, outcome="aborted")
    generation = await studio.create_generation(USER, FLUX_REQUEST)

    async def ended() -> bool:
        refreshed = await studio.refresh(generation.id)
        return refreshed is not None and refreshed.is_terminal

    await eventually(ended, what="the aborted prediction")
    done = await studio.generation(USER, generation.id)
    assert done.status is Status.CANCELED
    assert done.error_message == "prediction aborted"
    assert await studio.balance(USER) == INITIAL_CREDITS


async def test_a_completed_generation_keeps_replicates_outputs_and_timing(
    sim: Simulator, inference: ReplicateInference
) -> None:
    studio = build_studio(inference, ManualClock())
    await pool(studio, sim, GOOD)
    await studio.ensure_user(USER)
    request = GenerationRequest(action="create", model_id="flux-schnell", prompt="fox", settings={"num_outputs": 3})
    generation = await studio.create_generation(USER, request)

    async def ended() -> bool:
        refreshed = await studio.refresh(generation.id)
        return refreshed is not None and refreshed.is_terminal

    await eventually(ended, what="the prediction")
    done = await studio.generation(USER, generation.id)
    assert done.status is Status.COMPLETED
    assert done.output_urls is not None and len(done.output_urls) == 3
    assert all(url.startswith(sim.base_url + "/files/") for url in done.output_urls)
    assert done.processing_time_ms is not None and done.processing_time_ms >= 0
    assert done.completed_at is not None and done.completed_at.utcoffset() == timedelta(0)
    assert await studio.balance(USER) == INITIAL_CREDITS - 3


def _query():  # type: ignore[no-untyped-def]
    from base_core.generation import GenerationQuery

    return GenerationQuery(user_id=USER)
