"""The service's background loop runs the reconciler, and with webhooks on nothing else."""

from __future__ import annotations

from datetime import timedelta

from adapters.memory import MemoryStore
from base_core import GenerationRequest, Status, Studio, StudioConfig, builtin_registry
from base_core.background import MAX_RECONCILE_EVERY, Poller
from base_core.usecases import Context
from base_core.usecases.reconcile import ReconcilePolicy
from base_testing import FakeInference, ManualClock, SequentialIds

FLUX = GenerationRequest("create", "flux-schnell", prompt="a kite")


async def studio_with_one_generation() -> tuple[Studio, FakeInference, ManualClock, str]:
    clock = ManualClock()
    inference = FakeInference(clock)
    studio = Studio(
        Context(uow=MemoryStore(), inference=inference, registry=builtin_registry(), clock=clock,
                ids=SequentialIds(), config=StudioConfig())
    )
    await studio.add_token("r8_background_token_00001")
    await studio.ensure_user("alice")
    generation = await studio.create_generation("alice", FLUX)
    return studio, inference, clock, generation.id


async def test_with_webhooks_the_loop_only_reconciles_quiet_generations():
    studio, inference, clock, generation_id = await studio_with_one_generation()
    loop = Poller(studio, webhooks=True, reconcile=ReconcilePolicy.after(60))
    clock.advance(5)
    await loop.run_round()
    assert [op for op, _ in inference.calls] == ["create"]  # no polling while webhooks work

    inference.complete((await studio.generation("alice", generation_id)).prediction_id)
    clock.advance(60)
    loop._last_reconcile = None  # the loop's own pacing is wall-clock; skip it here
    await loop.run_round()
    assert [op for op, _ in inference.calls] == ["create", "get"]
    assert (await studio.generation("alice", generation_id)).status is Status.COMPLETED


async def test_without_webhooks_the_loop_polls_and_reconciles():
    studio, inference, clock, generation_id = await studio_with_one_generation()
    loop = Poller(studio, webhooks=False, reconcile=ReconcilePolicy.after(60))
    assert loop.reconcile_every == MAX_RECONCILE_EVERY
    inference.complete((await studio.generation("alice", generation_id)).prediction_id)
    clock.advance(2)
    await loop.run_round()
    assert (await studio.generation("alice", generation_id)).status is Status.COMPLETED


def test_the_reconciler_runs_often_enough_for_short_quiet_periods():
    studio = Studio(Context(uow=MemoryStore(), inference=FakeInference(ManualClock()),
                            registry=builtin_registry(), clock=ManualClock(), ids=SequentialIds()))
    assert Poller(studio, interval=0.1, reconcile=ReconcilePolicy.after(1)).reconcile_every == 0.25
    assert Poller(studio, interval=1.0, reconcile=ReconcilePolicy.after(1)).reconcile_every == 1.0
    assert Poller(studio, reconcile=ReconcilePolicy(quiet_after=timedelta(hours=1))).reconcile_every == 5.0
