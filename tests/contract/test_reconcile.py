"""The reconciler on every storage backend: claiming work, and what a round does with it.

A manual clock and the fake Replicate make every step deterministic; tests/durability
does the same through real processes and the simulator.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.memory import MemoryOutputStore
from base_core.generation import CheckQuery, Status
from base_core.ledger import EntryKind, HoldState, hold_key_for
from base_core.ports import TokenCredential
from base_core.registry import GenerationRequest, builtin_registry
from base_core.studio import Studio
from base_core.usecases import Context, StudioConfig
from base_core.usecases import generations as usecases
from base_core.usecases.reconcile import ReconcilePolicy, reconcile_once
from base_testing import FakeInference, ManualClock, SequentialIds

QUIET = timedelta(seconds=60)


def query(build, now: float, *, quiet: float = 60, outputs: bool = False, lease: float = 60, limit: int = 50):
    at = build.at(now)
    return CheckQuery(
        now=at,
        pending_before=at - timedelta(seconds=quiet),
        processing_before=at - timedelta(seconds=quiet),
        outputs_since=at - timedelta(hours=1) if outputs else None,
        lease_until=at + timedelta(seconds=lease),
        limit=limit,
    )


async def seed(uow_factory, build, *generations) -> None:
    await build.user_with_credits(uow_factory, credits=10)
    async with uow_factory() as uow:
        for generation in generations:
            await uow.generations.add(generation)
        await uow.commit()


async def claim(uow_factory, q) -> list[str]:
    async with uow_factory() as uow:
        claimed = await uow.generations.claim_for_check(q)
        await uow.commit()
    return [g.id for g in claimed]


# The port: claim_for_check


async def test_claims_quiet_in_flight_generations_oldest_first(uow_factory, build):
    await seed(
        uow_factory, build,
        build.generation("fresh", updated_at=build.at(100), status=Status.PROCESSING),
        build.generation("quiet", updated_at=build.at(10), status=Status.PROCESSING, prediction_id="p1"),
        build.generation("stuck", updated_at=build.at(5), status=Status.PENDING),
        build.generation("done", updated_at=build.at(0), status=Status.FAILED),
    )
    assert await claim(uow_factory, query(build, 120)) == ["stuck", "quiet"]


async def test_a_claim_is_a_lease(uow_factory, build):
    await seed(uow_factory, build, build.generation("g", status=Status.PROCESSING, prediction_id="p1"))
    assert await claim(uow_factory, query(build, 100, lease=30)) == ["g"]
    assert await claim(uow_factory, query(build, 110)) == []  # leased until 130
    async with uow_factory() as uow:
        stored = await uow.generations.get("g")
    assert stored.next_check_at == build.at(130)
    assert await claim(uow_factory, query(build, 130)) == ["g"]


async def test_an_uncommitted_claim_leaves_no_lease(uow_factory, build):
    await seed(uow_factory, build, build.generation("g", status=Status.PENDING))
    async with uow_factory() as uow:
        assert [g.id for g in await uow.generations.claim_for_check(query(build, 100))] == ["g"]
    assert await claim(uow_factory, query(build, 100)) == ["g"]


async def test_outputs_to_keep_are_claimed_only_when_asked_and_while_replicate_has_them(uow_factory, build):
    def completed(gid: str, at: float, **fields):
        return build.generation(
            gid, status=Status.COMPLETED, completed_at=build.at(at), updated_at=build.at(at),
            output_urls=["https://r/x.png"], source_urls=["https://r/x.png"], **fields,
        )

    await seed(
        uow_factory, build,
        completed("to-keep", 3000),
        completed("too-old", 0),
        completed("kept", 3000, outputs_kept_at=build.at(3001)),
        completed("deleted", 3000, deleted_at=build.at(3002)),
    )
    assert await claim(uow_factory, query(build, 4000)) == []
    assert await claim(uow_factory, query(build, 4000, outputs=True)) == ["to-keep"]


async def test_a_limit_and_concurrent_claims_never_overlap(uow_factory, build):
    await seed(
        uow_factory, build,
        *(build.generation(f"g{i}", status=Status.PROCESSING, prediction_id=f"p{i}",
                           updated_at=build.at(i)) for i in range(7)),
    )
    first, second = await asyncio.gather(
        claim(uow_factory, query(build, 100, limit=4)), claim(uow_factory, query(build, 100, limit=4))
    )
    assert not set(first) & set(second)
    assert sorted(first + second) == [f"g{i}" for i in range(7)]


# The use case: reconcile_once


class World:
    def __init__(self, uow_factory, outputs: MemoryOutputStore | None = None) -> None:
        self.clock = ManualClock()
        self.inference = FakeInference(self.clock)
        self.outputs = outputs
        self.studio = Studio(
            Context(
                uow=uow_factory, inference=self.inference, registry=builtin_registry(),
                clock=self.clock, ids=SequentialIds(), config=StudioConfig(initial_credits=10),
                outputs=outputs,
            )
        )
        self.policy = ReconcilePolicy(quiet_after=QUIET, pending_after=QUIET)

    async def start(self) -> None:
        await self.studio.add_token("r8_reconcile_token_0001")
        await self.studio.ensure_user("alice")

    async def create(self, outputs: int = 1):
        request = GenerationRequest("create", "flux-schnell", prompt="a fox", settings={"num_outputs": outputs})
        return await self.studio.create_generation("alice", request)

    async def reconcile(self, after: float = 61):
        self.clock.advance(after)
        return await reconcile_once(self.studio.context, self.policy)

    async def kinds(self) -> list[EntryKind]:
        return [e.kind for e in await self.studio.ledger("alice")]


@pytest.fixture
async def world(uow_factory) -> World:
    w = World(uow_factory, MemoryOutputStore())
    await w.start()
    return w


async def test_a_lost_webhook_is_made_up_for_by_asking_replicate(world):
    generation = await world.create()
    world.inference.complete(generation.prediction_id)  # Replicate finished; nobody told us
    assert (await world.reconcile(after=30)).claimed == 0  # not quiet for long enough yet
    report = await world.reconcile(after=31)
    assert (report.claimed, report.asked) == (1, 1)
    done = await world.studio.generation("alice", generation.id)
    assert done.status is Status.COMPLETED
    assert await world.kinds() == [EntryKind.GRANT, EntryKind.HOLD, EntryKind.SETTLE]


async def test_a_still_running_prediction_is_asked_about_once_per_lease(world):
    generation = await world.create()
    await world.reconcile()
    await world.reconcile(after=30)
    await world.reconcile(after=31)
    assert [op for op, _ in world.inference.calls].count("get") == 2
    assert (await world.studio.generation("alice", generation.id)).status is Status.PROCESSING


async def test_a_generation_stuck_in_pending_is_voided(world):
    # The process died between the hold and the call to Replicate: store it as it was left.
    ctx = world.studio.context
    request = GenerationRequest("create", "flux-schnell", prompt="a fox")
    prepared = ctx.registry.prepare(request, ctx.config.urls)
    accepted, _token = await usecases._accept(ctx, "alice", request, prepared, None, "fp")
    assert await world.studio.balance("alice") == 9
    report = await world.reconcile()
    assert report.voided_pending == 1
    failed = await world.studio.generation("alice", accepted.id)
    assert failed.status is Status.FAILED and "credits returned" in failed.error_message
    assert await world.studio.balance("alice") == 10
    assert world.inference.predictions == {}  # never submitted behind the user's back


async def test_past_replicates_limit_a_prediction_fails_with_a_refund_and_a_cancel(world):
    generation = await world.create()
    await world.reconcile(after=36 * 60)
    failed = await world.studio.generation("alice", generation.id)
    assert failed.status is Status.FAILED and "30-minute" in failed.error_message
    assert ("cancel", failed.token_id) in world.inference.calls
    assert world.inference.predictions[generation.prediction_id].status == "canceled"
    assert await world.studio.balance("alice") == 10


async def test_outputs_are_kept_when_the_webhook_says_completed(world):
    generation = await world.create(outputs=2)
    update = world.inference.complete(generation.prediction_id)
    for url in update.output:
        world.outputs.publish(url, b"\x89PNG" + url.encode())
    done = await world.studio.apply_update(update)
    assert done.source_urls == update.output
    assert done.output_keys and done.outputs_kept_at is not None
    for key, source in zip(done.output_keys, done.source_urls, strict=True):
        assert key.startswith(f"{generation.id}/")
        stored = await world.outputs.open(key)
        assert b"".join([c async for c in stored.chunks]) == b"\x89PNG" + source.encode()


async def test_a_failed_copy_is_retried_by_the_reconciler_and_never_loses_the_generation(world):
    generation = await world.create()
    update = world.inference.complete(generation.prediction_id)
    world.outputs.publish(update.output[0], b"image")
    world.outputs.fail_next = 1
    done = await world.studio.apply_update(update)
    assert done.status is Status.COMPLETED and done.output_urls == update.output
    assert done.outputs_kept_at is None
    report = await world.reconcile()
    assert report.outputs_kept == 1
    kept = await world.studio.generation("alice", generation.id)
    assert kept.output_keys[0] in world.outputs.objects
    assert kept.source_urls == update.output


async def test_a_copy_is_given_up_once_replicate_no_longer_has_the_files(world):
    generation = await world.create()
    update = world.inference.complete(generation.prediction_id)  # never published: 404
    await world.studio.apply_update(update)
    assert (await world.reconcile()).claimed == 1
    assert (await world.reconcile(after=2 * 3600)).claimed == 0
    still = await world.studio.generation("alice", generation.id)
    assert still.status is Status.COMPLETED and still.output_urls == update.output


async def test_expired_holds_are_resolved_by_their_generations_state(world, uow_factory):
    generation = await world.create()
    # A completed generation whose hold was left pending (it cannot happen through the
    # use cases; the reconciler repairs it anyway), and an in-flight one past its hold.
    async with uow_factory() as uow:
        stored = await uow.generations.get_for_update(generation.id)
        stored = stored.advance(world.inference.complete(generation.prediction_id), world.clock.now())
        await uow.generations.save(stored)
        await uow.commit()
    other = await world.create()
    world.policy = ReconcilePolicy(quiet_after=timedelta(hours=5), pending_after=timedelta(hours=5))
    report = await world.reconcile(after=3 * 3600)
    assert report.holds_resolved == 2
    async with uow_factory() as uow:
        first = await uow.ledger.hold_for_update(hold_key_for(generation.id))
        second = await uow.ledger.hold_for_update(hold_key_for(other.id))
    assert (first.state, second.state) == (HoldState.SETTLED, HoldState.VOIDED)
    assert (await world.studio.generation("alice", other.id)).status is Status.FAILED
    assert await world.studio.balance("alice") == 9


async def test_a_prediction_only_its_parked_webhooks_know_is_canceled_at_replicate(world):
    """A create call died after Replicate took the work and before it was recorded."""
    [token] = (await world.studio.token_stats()).tokens
    secret = "r8_reconcile_token_0001"
    orphan = await world.inference.create(TokenCredential(token.id, secret), "m", {"prompt": "x"}, None)
    await world.studio.apply_update(world.inference.progress(orphan.prediction_id))  # parked
    assert (await world.reconcile(after=30)).orphans_canceled == 0  # not old enough yet
    report = await world.reconcile(after=61)
    assert report.orphans_canceled == 1 and report.problems == []
    assert world.inference.predictions[orphan.prediction_id].status == "canceled"
    async with world.studio.context.work() as uow:
        assert await uow.inbox.take(orphan.prediction_id) == []  # dropped
    assert (await world.reconcile(after=61)).orphans_canceled == 0


async def test_an_orphan_no_token_can_cancel_is_reported_and_kept(world):
    [token] = (await world.studio.token_stats()).tokens
    orphan = await world.inference.create(TokenCredential("someone-else", "r8_x"), "m", {"prompt": "x"}, None)
    await world.studio.apply_update(world.inference.progress(orphan.prediction_id))
    report = await world.reconcile(after=121)
    assert report.orphans_canceled == 0
    assert report.problems == [f"no token could cancel orphaned prediction {orphan.prediction_id}"]
    assert world.inference.predictions[orphan.prediction_id].status != "canceled"
    # Past Replicate's 30-minute limit it has stopped anyway: its updates are dropped.
    report = await world.reconcile(after=36 * 60)
    assert report.problems == [] and report.orphans_canceled == 0
    async with world.studio.context.work() as uow:
        assert await uow.inbox.take(orphan.prediction_id) == []
