"""Replicate down for a while (every token answering 500 or hanging past the timeout),
then back: no user loses credits, and every generation ends.

In one process, so the Replicate client's timeout can be short: the studio on SQLite,
the real Replicate adapter against the simulator, and the service's background loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from adapters.replicate import ReplicateInference
from adapters.sql import SqlDatabase
from adapters.system import SystemClock, UuidIds
from base_core import GenerationRequest, Status, Studio, StudioConfig, builtin_registry
from base_core.background import Poller
from base_core.errors import ProviderError
from base_core.ledger import EntryKind
from base_core.tokens import RotationPolicy
from base_core.usecases import Context
from base_core.usecases.reconcile import ReconcilePolicy
from replicate_simulator import Fault, Simulator, SimulatorConfig

TOKENS = ("r8_outage_token_first_00001", "r8_outage_token_second_0002")
INITIAL = 20
FLUX = GenerationRequest("create", "flux-schnell", prompt="a storm", settings={"num_outputs": 1})


async def until(condition: Callable[[], Awaitable[object]], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_an_outage_costs_nobody_credits_and_strands_no_generation(tmp_path):
    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.1, processing_delay=1.0))
    db = SqlDatabase.from_url(f"sqlite+aiosqlite:///{tmp_path / 'outage.db'}")
    await db.migrate()
    async with simulator.running() as sim:
        inference = ReplicateInference(sim.base_url, timeout=1.0)
        studio = Studio(
            Context(
                uow=db.unit_of_work, inference=inference, registry=builtin_registry(), clock=SystemClock(),
                ids=UuidIds(), policy=RotationPolicy(failure_threshold=1, failure_cooldown=timedelta(seconds=1)),
                config=StudioConfig(initial_credits=INITIAL),
            )
        )
        await studio.ensure_tokens(TOKENS)
        await studio.ensure_user("alice")
        loop = Poller(studio, interval=0.1, reconcile_after=0.5, reconcile=ReconcilePolicy.after(0.5))
        try:
            await loop.start()
            running = [await studio.create_generation("alice", FLUX) for _ in range(3)]
            assert {g.status for g in running} == {Status.PROCESSING}

            # The outage: one token hangs past the client's timeout, everything else is a 500.
            sim.faults.add(Fault(token=TOKENS[1], delay=3.0))
            sim.faults.add(Fault(status=500))
            refused = 0
            for _ in range(4):
                try:
                    generation = await studio.create_generation("alice", FLUX)
                except ProviderError:
                    refused += 1
                else:
                    assert generation.status is Status.FAILED
            assert refused == 4
            # Only the three running generations hold credits; nothing taken for the outage.
            assert await studio.balance("alice") == INITIAL - 3
            await until(
                lambda: _asked_during_outage(sim), 20, "the background loop to hit the outage"
            )

            sim.faults.clear()  # Replicate is back

            async def all_done() -> bool:
                statuses = [(await studio.generation("alice", g.id)).status for g in running]
                return statuses == [Status.COMPLETED] * len(running)

            await until(all_done, 30, "the running generations to complete after the outage")
            after = await until(_create_when_possible(studio), 20, "a create to succeed again")
            assert after.status in (Status.PROCESSING, Status.COMPLETED)
            await until(
                lambda: _status_is(studio, after.id, Status.COMPLETED), 20, "the new generation to complete"
            )

            # The books: four charges (three from before the outage, one after), every
            # hold resolved once, the ledger adding up to the balance.
            entries = await studio.ledger("alice")
            balance = await studio.balance("alice")
            assert sum(e.amount for e in entries) == balance == INITIAL - 4
            holds = [e.hold_key for e in entries if e.kind is EntryKind.HOLD]
            resolutions = [e.hold_key for e in entries if e.kind in (EntryKind.SETTLE, EntryKind.VOID)]
            assert sorted(holds) == sorted(resolutions)
        finally:
            await loop.stop()
            await inference.aclose()
            await db.dispose()


async def _asked_during_outage(sim: Simulator) -> bool:
    return any(r.status == 500 and r.method == "GET" for r in sim.requests())


def _create_when_possible(studio: Studio) -> Callable[[], Awaitable[object]]:
    async def attempt() -> object:
        try:
            return await studio.create_generation("alice", FLUX)
        except ProviderError:
            return None

    return attempt


async def _status_is(studio: Studio, generation_id: str, status: Status) -> bool:
    return (await studio.generation("alice", generation_id)).status is status
