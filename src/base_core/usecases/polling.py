"""Polling Replicate for generations whose news did not come by webhook.

Without a public URL no webhook is requested, so every in-flight generation is asked
about: first about a second after its last change, then at doubling intervals up to
`max_interval` (BASE_RECONCILE_AFTER_SECONDS). With webhooks on, the same schedule with
`first_after == max_interval` only reconciles generations that went quiet (a lost webhook).

The schedule is the poller's memory of when it last asked, per process; it reads no clock
(the time comes from ctx.clock). Several processes polling the same generation is harmless:
applying an update is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from base_core.errors import NotFound, ProviderError
from base_core.generation import Generation
from base_core.usecases.context import Context
from base_core.usecases.generations import refresh

DEFAULT_FIRST_AFTER = timedelta(seconds=1)
DEFAULT_RECONCILE_AFTER = timedelta(seconds=60)


@attrs.define
class _Polled:
    changed_at: datetime  # the generation's updated_at when we last asked
    polled_at: datetime
    polls: int  # since its last change


@attrs.define
class PollSchedule:
    """When each in-flight generation is next due for a poll."""

    first_after: timedelta = DEFAULT_FIRST_AFTER
    max_interval: timedelta = DEFAULT_RECONCILE_AFTER
    # How many in-flight generations one round looks at, so the not-yet-due ones at the
    # front of the list (oldest first) can't hide the due ones behind them.
    scan_limit: int = 1000
    _polled: dict[str, _Polled] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.first_after <= timedelta(0) or self.max_interval < self.first_after:
            raise ValueError("need 0 < first_after <= max_interval")

    @classmethod
    def polling(cls, reconcile_after: timedelta = DEFAULT_RECONCILE_AFTER) -> PollSchedule:
        """No webhooks: poll everything in flight, backing off up to `reconcile_after`."""
        return cls(first_after=min(DEFAULT_FIRST_AFTER, reconcile_after), max_interval=reconcile_after)

    @classmethod
    def reconciling(cls, reconcile_after: timedelta = DEFAULT_RECONCILE_AFTER) -> PollSchedule:
        """Webhooks on: ask only about generations with no news for `reconcile_after`."""
        return cls(first_after=reconcile_after, max_interval=reconcile_after)

    def interval(self, polls: int) -> timedelta:
        """The wait before poll number `polls + 1` since the generation last changed."""
        if polls <= 0:
            return self.first_after
        backoff: timedelta = self.first_after * (2 ** min(polls, 32))
        return min(backoff, self.max_interval)

    def next_due(self, generation: Generation) -> datetime:
        seen = self._polled.get(generation.id)
        if seen is None or seen.changed_at != generation.updated_at:
            return generation.updated_at + self.first_after
        return seen.polled_at + self.interval(seen.polls)

    def due(self, generations: Iterable[Generation], now: datetime, limit: int) -> list[Generation]:
        """The generations to ask about now, most overdue first, at most `limit`."""
        ready = [g for g in generations if not g.is_terminal and self.next_due(g) <= now]
        ready.sort(key=lambda g: (self.next_due(g), g.id))
        return ready[:limit]

    def polled(self, generation: Generation, now: datetime) -> None:
        seen = self._polled.get(generation.id)
        if seen is None or seen.changed_at != generation.updated_at:
            self._polled[generation.id] = _Polled(generation.updated_at, now, 1)
        else:
            seen.polled_at = now
            seen.polls += 1

    def keep_only(self, generation_ids: Iterable[str]) -> None:
        """Forget generations no longer in flight."""
        keep = set(generation_ids)
        self._polled = {gid: seen for gid, seen in self._polled.items() if gid in keep}

    def __len__(self) -> int:
        return len(self._polled)


async def due_generations(ctx: Context, schedule: PollSchedule, limit: int) -> list[Generation]:
    now = ctx.clock.now()
    async with ctx.work() as uow:
        in_flight = await uow.generations.in_flight_updated_before(
            now - schedule.first_after + _EPSILON, schedule.scan_limit
        )
    if len(in_flight) < schedule.scan_limit:
        # The whole in-flight set was seen: anything else the schedule remembers is done.
        schedule.keep_only(g.id for g in in_flight)
    return schedule.due(in_flight, now, limit)


# The repository's cutoff is strict ("updated before"); due means "at least first_after ago".
_EPSILON = timedelta(microseconds=1)


async def poll_once(
    ctx: Context, schedule: PollSchedule, limit: int = 20, problems: list[str] | None = None
) -> int:
    """Ask Replicate about the generations that are due; return how many were asked about.

    A failure on one generation (Replicate down, the token throttled, the prediction gone)
    does not stop the others; it is added to `problems` and waits for its next turn.
    """
    asked = 0
    for generation in await due_generations(ctx, schedule, limit):
        schedule.polled(generation, ctx.clock.now())
        asked += 1
        try:
            await refresh(ctx, generation.id)
        except (ProviderError, NotFound) as error:
            if problems is not None:
                problems.append(f"polling generation {generation.id} failed: {error.message}")
    return asked


__all__ = [
    "DEFAULT_FIRST_AFTER",
    "DEFAULT_RECONCILE_AFTER",
    "PollSchedule",
    "due_generations",
    "poll_once",
]
