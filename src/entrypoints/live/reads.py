"""One read per change per process: the state every stream following a generation sends.

A stream woken by a change asks `latest` for the generation's state. The first to ask
starts the read (from the poll cache when it holds the generation, else the database)
and every other stream of that generation awaits the same read, as long as no change of
it was heard since the read started (the poll cache's ticket says so) and, when the
stream polls because changes may be missed (`max_age`), the read is no older than that;
a polling read never comes from the cache. The event's bytes are encoded once per public
base (`Seen.event`); with signed, time-limited URLs (base None) each stream encodes its own.

A read is shared only between streams of one user: it is made with the asking stream's
user (whose read finds only that user's generations), and a stream of another user reads
on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
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


class SharedReads:
    def __init__(self, cache: PollCache, clock: Callable[[], float] = time.monotonic) -> None:
        self._cache = cache
        self._clock = clock
        self._reads: dict[str, _Read] = {}
        self.database_reads = 0

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
        if max_age is None:
            view = cache.get(generation_id)
            if view is not None and view.user_id == user_id and view.generation is not None:
                return Seen(view.generation)
        task = asyncio.ensure_future(self._read(user_id, generation_id, ticket, read))
        task.add_done_callback(_retrieved)
        reads = self._reads
        if known is None and len(reads) >= MAX_READS:
            del reads[next(iter(reads))]
        reads.pop(generation_id, None)
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


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
