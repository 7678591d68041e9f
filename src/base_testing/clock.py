"""A clock and an id source that tests (and simulations) control."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta


class ManualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 11, 24, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        self._now += timedelta(seconds=seconds, **delta)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


class SequentialIds:
    """Deterministic UUIDs: 00000000-0000-4000-8000-000000000001, ...002, ..."""

    def __init__(self, start: int = 1) -> None:
        self._counter = itertools.count(start)

    def new_id(self) -> str:
        n = next(self._counter)
        if n < 1 << 48:  # fits the last group: the same text, without building a UUID
            return f"00000000-0000-4000-8000-{n:012x}"
        return str(uuid.UUID(int=(0x4000 << 64 | 0x8000 << 48) + n))
