"""The polling schedule (pure, on a manual clock) and the poller, on the in-memory fake."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import attrs
import pytest
from replicate_support import FLUX_REQUEST, USER, build_studio, eventually

from base_core.background import Poller
from base_core.errors import InfrastructureError, ProviderUnavailable
from base_core.generation import Status
from base_core.studio import Studio
from base_core.usecases.polling import PollSchedule, due_generations, poll_once
from base_testing import FakeInference, ManualClock


async def studio_on_fake() -> tuple[Studio, FakeInference, ManualClock]:
    clock = ManualClock()
    fake = FakeInference(clock)
    studio = build_studio(fake, clock)
    await studio.add_token("r8_polling_token_1")
    await studio.ensure_user(USER)
    return studio, fake, clock


def test_the_interval_doubles_up_to_the_reconcile_bound() -> None:
    schedule = PollSchedule.polling(timedelta(seconds=60))
    waits = [schedule.interval(n).total_seconds() for n in range(9)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert schedule.interval(10_000) == timedelta(seconds=60)


def test_a_schedule_needs_sane_bounds() -> None:
    with pytest.raises(ValueError):
        PollSchedule(first_after=timedelta(0))
    with pytest.raises(ValueError):
        PollSchedule(first_after=timedelta(seconds=10), max_interval=timedelta(seconds=5))
    assert PollSchedule.polling(timedelta(seconds=0.5)).first_after == timedelta(seconds=0.5)


async def test_generations_are_due_after_a_second_then_at_doubling_intervals() -> None:
    studio, fake, clock = await studio_on_fake()
    schedule = PollSchedule.polling(timedelta(seconds=60))
    generation = await studio.create_generation(USER, FLUX_REQUEST)

    polled_at = []
    for _ in range(200):  # 20 s in 0.1 s steps
        if await poll_once(studio.context, schedule, limit=10):
            polled_at.append(round((clock.now() - generation.updated_at).total_seconds(), 1))
        clock.advance(0.1)

    # First after 1 s, then 2, 4 and 8 s after the previous poll.
    assert polled_at == [1.0, 3.0, 7.0, 15.0]
    assert [call for call, _ in fake.calls].count("get") == 4


async def test_a_finished_generation_is_no_longer_polled_and_is_forgotten() -> None:
    studio, fake, clock = await studio_on_fake()
    schedule = PollSchedule.polling(timedelta(seconds=60))
    generation = await studio.create_generation(USER, FLUX_REQUEST)
    clock.advance(1)
    assert await poll_once(studio.context, schedule) == 1
    clock.advance(1)
    assert await poll_once(studio.context, schedule) == 0  # next one is 2 s after the first
    assert len(schedule) == 1

    fake.complete(generation.prediction_id or "")
    clock.advance(1)
    assert await poll_once(studio.context, schedule) == 1
    assert (await studio.generation(USER, generation.id)).status is Status.COMPLETED
    clock.advance(100)
    assert await poll_once(studio.context, schedule) == 0
    assert len(schedule) == 0


async def test_reconciling_asks_only_about_generations_quiet_for_the_whole_bound() -> None:
    studio, fake, clock = await studio_on_fake()
    schedule = PollSchedule.reconciling(timedelta(seconds=60))
    await studio.create_generation(USER, FLUX_REQUEST)
    clock.advance(59)
    assert await poll_once(studio.context, schedule) == 0
    clock.advance(1)
    assert await poll_once(studio.context, schedule) == 1
    clock.advance(59)
    assert await poll_once(studio.context, schedule) == 0
    clock.advance(1)
    assert await poll_once(studio.context, schedule) == 1


async def test_a_failure_on_one_generation_does_not_stop_the_others() -> None:
    studio, fake, clock = await studio_on_fake()
    first = await studio.create_generation(USER, FLUX_REQUEST)
    second = await studio.create_generation(USER, FLUX_REQUEST)
    fake.complete(first.prediction_id or "")
    fake.complete(second.prediction_id or "")
    fake.fail_next(ProviderUnavailable(status=502))
    clock.advance(1)

    assert await poll_once(studio.context, PollSchedule.polling(), limit=10) == 2

    statuses = sorted([(await studio.generation(USER, g.id)).status.value for g in (first, second)])
    assert statuses == ["completed", "processing"]


async def test_the_limit_takes_the_most_overdue_first() -> None:
    studio, fake, clock = await studio_on_fake()
    older = await studio.create_generation(USER, FLUX_REQUEST)
    clock.advance(5)
    await studio.create_generation(USER, FLUX_REQUEST)
    clock.advance(1)
    due = await due_generations(studio.context, PollSchedule.polling(), limit=1)
    assert [g.id for g in due] == [older.id]


async def test_the_poller_runs_rounds_until_stopped_and_survives_a_failing_round() -> None:
    studio, fake, clock = await studio_on_fake()
    generation = await studio.create_generation(USER, FLUX_REQUEST)
    fake.complete(generation.prediction_id or "")
    clock.advance(2)
    real_uow = studio.context.uow
    failures = iter([True])

    def flaky_uow():  # type: ignore[no-untyped-def]
        if next(failures, False):
            raise InfrastructureError("the database is restarting")
        return real_uow()

    poller = Poller(attrs.evolve(studio.context, uow=flaky_uow), interval=0.01, reconcile_after=60)
    await poller.start()
    await poller.start()  # starting twice is harmless

    async def completed() -> bool:
        return (await studio.generation(USER, generation.id)).status is Status.COMPLETED

    await eventually(completed, what="the poller")
    await poller.stop()
    rounds = poller.rounds
    assert rounds >= 2 and not poller.running
    await asyncio.sleep(0.05)
    assert poller.rounds == rounds
    await poller.stop()  # stopping twice is harmless


async def test_the_poller_waits_for_its_stop_event() -> None:
    studio, _, _ = await studio_on_fake()
    stop = asyncio.Event()
    poller = Poller(studio.context, interval=30)
    task = asyncio.create_task(poller.run(stop))

    async def one_round() -> bool:
        return poller.rounds >= 1

    await eventually(one_round, what="a round")
    stop.set()
    await asyncio.wait_for(task, 5)
    assert poller.rounds == 1


def test_the_poller_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        Poller(object(), interval=0)  # type: ignore[arg-type]


async def test_news_resets_the_backoff() -> None:
    studio, _, clock = await studio_on_fake()
    schedule = PollSchedule.polling(timedelta(seconds=60))
    generation = await studio.create_generation(USER, FLUX_REQUEST)
    for _ in range(3):
        schedule.polled(generation, clock.now())
    assert schedule.next_due(generation) == clock.now() + timedelta(seconds=8)
    changed = attrs.evolve(generation, updated_at=clock.advance(2))
    assert schedule.next_due(changed) == clock.now() + timedelta(seconds=1)
