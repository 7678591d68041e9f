"""The shared state operators watch (`Studio.vitals`): tokens by state, work in flight, holds."""

from __future__ import annotations

from adapters.memory import MemoryStore
from base_core import Context, GenerationRequest, Studio, StudioConfig, builtin_registry
from base_core.errors import TokenRateLimited, TokenRejected
from base_testing import FakeInference, ManualClock, SequentialIds

REQUEST = GenerationRequest(action="create", model_id="flux-schnell", prompt="a fox", settings={"num_outputs": 1})


def _studio() -> tuple[Studio, FakeInference, ManualClock]:
    clock = ManualClock()
    replicate = FakeInference(clock)
    studio = Studio(Context(uow=MemoryStore(), inference=replicate, registry=builtin_registry(),
                            clock=clock, ids=SequentialIds(), config=StudioConfig(initial_credits=10)))
    return studio, replicate, clock


async def test_an_empty_service_has_no_usable_token_and_nothing_in_flight() -> None:
    studio, _, _ = _studio()
    vitals = await studio.vitals()
    assert (vitals.tokens_active, vitals.tokens_cooling, vitals.tokens_retired) == (0, 0, 0)
    assert not vitals.has_usable_token
    assert (vitals.in_flight, vitals.holds_pending, vitals.oldest_processing_seconds) == (0, 0, 0.0)


async def test_tokens_are_counted_active_cooling_or_retired_as_the_pool_has_them() -> None:
    studio, replicate, clock = _studio()
    for n in range(4):
        await studio.add_token(f"r8_vitals_token_{n:04d}")
    replicate.fail_token("r8_vitals_token_0000", TokenRateLimited(60.0, "throttled"))
    replicate.fail_token("r8_vitals_token_0001", TokenRejected(401, "rejected"))
    user = await studio.ensure_user("u1")
    # Two creates meet the failing tokens first (never used ones go first), then succeed.
    for _ in range(2):
        await studio.create_generation(user.user.id, REQUEST)
    vitals = await studio.vitals()
    assert (vitals.tokens_active, vitals.tokens_cooling, vitals.tokens_retired) == (2, 1, 1)
    clock.advance(seconds=120)  # the cooldown is over
    vitals = await studio.vitals()
    assert (vitals.tokens_active, vitals.tokens_cooling, vitals.tokens_retired) == (3, 0, 1)


async def test_in_flight_work_and_open_holds_with_the_age_of_the_oldest() -> None:
    studio, replicate, clock = _studio()
    await studio.add_token("r8_vitals_token_only")
    user = await studio.ensure_user("u1")
    first = await studio.create_generation(user.user.id, REQUEST)
    clock.advance(seconds=30)
    second = await studio.create_generation(user.user.id, REQUEST)
    clock.advance(seconds=15)
    vitals = await studio.vitals()
    assert (vitals.pending, vitals.processing, vitals.holds_pending) == (0, 2, 2)
    assert vitals.oldest_processing_seconds == 45.0 and vitals.oldest_hold_seconds == 45.0

    assert first.prediction_id is not None and second.prediction_id is not None
    await studio.apply_update(replicate.complete(first.prediction_id))
    vitals = await studio.vitals()
    assert (vitals.processing, vitals.holds_pending) == (1, 1)
    assert vitals.oldest_processing_seconds == 15.0 and vitals.oldest_hold_seconds == 15.0
