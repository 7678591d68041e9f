"""One read per change per process: the state every stream following a generation sends.

A stream woken by a change asks `latest` for the generation's state. The first to ask
starts the read (from the poll cache when it holds the generation, else the database)
and every other stream of that generation awaits the same read, as long as no change of
it was heard since the read started (the poll cache's ticket says so) and, when the
stream polls because changes may be missed (`max_age`), the read is no older than that;
a polling read never comes from the cache. The event's bytes are encoded once per public
base (`Seen.event`); with signed, time-limited URLs (base None) each stream encodes its own.

A shared read is a task of its own: a stream whose client leaves in the middle of it
stops waiting, but the read finishes (a unit of work cut off by the cancellation could
leave its connection, on SQLite the write lock, in a state the next user waits on).

A read is shared only between streams of one user: it is made with the asking stream's
user (whose read finds only that user's generations), and a stream of another user reads
on its own.

Gallery streams that must poll share the read of what changed (`changed_since`) the same
way, per user: a read no older than `max_age` that started from a cursor at most `slack`
before the asking stream's is reused; the stream's cursor then moves to that read's start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from base_core.generation import Generation
from entrypoints.live.cache import CachedView, PollCache, Ticket

T = TypeVar("T")
MAX_READS = 16_384  # generations whose last read is kept; the oldest goes first


class Seen:
    """A generation as one read found it (None: not found), and its encoded events."""

    __slots__ = ("_events", "generation")

    def __init__(self, generation: Generation | None) -> None:
        self.generation = generation
        self._events: dict[str, bytes] = {}

    def event(self, base: str | None, encode: Callable[[Generation, T], bytes], links: T) -> bytes:
        """`encode(generation, links)`, once per public `base` (each time when None)."""
        generation = self.generation
        assert generation is not None
        if base is None:
            return encode(generation, links)
        events = self._events
        found = events.get(base)
        if found is None:
            found = events[base] = encode(generation, links)
        return found


class _Read:
    __slots__ = ("polled", "started", "task", "ticket", "user_id")

    def __init__(
        self, user_id: str, ticket: Ticket, started: float, polled: bool, task: asyncio.Future[Seen]
    ) -> None:
        self.user_id = user_id
        self.ticket = ticket
        self.started = started
        self.polled = polled
        self.task = task


class _Changes:
    __slots__ = ("began", "since", "started", "task")

    def __init__(
        self, since: datetime, began: datetime, started: float, task: asyncio.Future[list[Generation]]
    ) -> None:
        self.since = since  # the cursor it read from
        self.began = began  # the domain clock when it started: the next cursor
        self.started = started
        self.task = task


class SharedReads:
    def __init__(self, cache: PollCache, clock: Callable[[], float] = time.monotonic) -> None:
        self._cache = cache
        self._clock = clock
        self._reads: dict[str, _Read] = {}
        self._changes: dict[str, _Changes] = {}
        self.database_reads = 0

    async def changed_since(
        self,
        user_id: str,
        cursor: datetime,
        read: Callable[[str, datetime], Awaitable[list[Generation]]],
        now: Callable[[], datetime],
        max_age: float,
        slack: timedelta,
    ) -> tuple[datetime, list[Generation]]:
        """What `read(user_id, since)` finds changed since about `cursor`, and when that
        read began (by `now`): shared between one user's polling gallery streams."""
        known = self._changes.get(user_id)
        if (
            known is not None
            and cursor - slack <= known.since <= cursor
            and self._clock() - known.started < max_age
        ):
            return known.began, await asyncio.shield(known.task)
        began = now()
        task: asyncio.Future[list[Generation]] = asyncio.ensure_future(read(user_id, cursor))
        task.add_done_callback(_retrieved)
        changes = self._changes
        if known is None and len(changes) >= MAX_READS:
            del changes[next(iter(changes))]
        changes.pop(user_id, None)
        changes[user_id] = current = _Changes(cursor, began, self._clock(), task)
        try:
            return began, await asyncio.shield(task)
        except BaseException:
            if changes.get(user_id) is current and task.done():
                del changes[user_id]
            raise

    def __len__(self) -> int:
        return len(self._reads)

    async def latest(
        self,
        user_id: str,
        generation_id: str,
        read: Callable[[str, str], Awaitable[Generation | None]],
        max_age: float | None = None,
    ) -> Seen:
        """The state `read(user_id, generation_id)` finds, shared as the module says."""
        cache = self._cache
        ticket = cache.ticket(generation_id)
        now = self._clock()
        known = self._reads.get(generation_id)
        if (
            known is not None
            and known.user_id == user_id
            and known.ticket == ticket
            and (max_age is None or (known.polled and now - known.started < max_age))
        ):
            return await asyncio.shield(known.task)
        reads = self._reads
        if known is None and len(reads) >= MAX_READS:
            del reads[next(iter(reads))]
        reads.pop(generation_id, None)
        if max_age is None:
            view = cache.get(generation_id)
            if view is not None and view.user_id == user_id and view.generation is not None:
                seen = Seen(view.generation)
                cached: asyncio.Future[Seen] = asyncio.get_running_loop().create_future()
                cached.set_result(seen)
                reads[generation_id] = _Read(user_id, ticket, now, False, cached)
                return seen
        task = asyncio.ensure_future(self._read(user_id, generation_id, ticket, read))
        task.add_done_callback(_retrieved)
        reads[generation_id] = current = _Read(user_id, ticket, now, max_age is not None, task)
        try:
            return await asyncio.shield(task)
        except BaseException:
            if reads.get(generation_id) is current and task.done():
                del reads[generation_id]  # a failed read is not shared: the next one tries again
            raise

    async def _read(
        self,
        user_id: str,
        generation_id: str,
        ticket: Ticket,
        read: Callable[[str, str], Awaitable[Generation | None]],
    ) -> Seen:
        self.database_reads += 1
        generation = await read(user_id, generation_id)
        if generation is not None:  # the poll cache may keep it too (see read_generation)
            self._cache.put(
                generation_id,
                ticket,
                CachedView(generation.user_id, generation.is_deleted, b"", generation, None),
            )
        return Seen(generation)

    def forget(self, generation_id: str) -> None:
        self._reads.pop(generation_id, None)

    def forget_user(self, user_id: str) -> None:
        self._changes.pop(user_id, None)


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
