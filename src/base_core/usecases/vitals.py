"""The service's shared state as operators watch it: the token pool, what is in flight,
the credit holds still open. Read from the store, so every process reports the same."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from base_core.generation import Status
from base_core.usecases.context import Context

# Rows read per kind at most: a gauge of "10 000 or more" is as alarming as the exact figure,
# and a scrape must stay cheap.
MAX_ROWS = 10_000
_FAR = timedelta(days=36_500)


@attrs.frozen
class Vitals:
    tokens_active: int  # in rotation now
    tokens_cooling: int  # enabled, cooling down until a time still to come
    tokens_retired: int  # out of rotation until an operator re-enables them
    pending: int  # generations accepted, not yet taken by Replicate
    processing: int  # generations Replicate is working on
    oldest_processing_seconds: float  # since its acceptance; 0 when none is processing
    holds_pending: int
    oldest_hold_seconds: float  # since the hold was taken; 0 when none is open

    @property
    def in_flight(self) -> int:
        return self.pending + self.processing

    @property
    def has_usable_token(self) -> bool:
        return self.tokens_active > 0


async def vitals(ctx: Context, limit: int = MAX_ROWS) -> Vitals:
    now = ctx.clock.now()
    async with ctx.work() as uow:
        tokens = await uow.tokens.all()
        in_flight = await uow.generations.in_flight_updated_before(now + _FAR, limit)
        holds = await uow.ledger.expired_holds(now + _FAR, limit)
    processing = [g for g in in_flight if g.status is Status.PROCESSING]
    retired = sum(1 for t in tokens if not t.is_active)
    active = sum(1 for t in tokens if t.is_available(now))
    return Vitals(
        tokens_active=active,
        tokens_cooling=len(tokens) - retired - active,
        tokens_retired=retired,
        pending=len(in_flight) - len(processing),
        processing=len(processing),
        oldest_processing_seconds=_age(now, (g.created_at for g in processing)),
        holds_pending=len(holds),
        oldest_hold_seconds=_age(now, (h.created_at for h in holds)),
    )


def _age(now: datetime, times: Iterable[datetime]) -> float:
    oldest = min(times, default=None)
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


__all__ = ["MAX_ROWS", "Vitals", "vitals"]
