"""Polls without a database read: `GET /api/generations/{id}` answered from memory.

An entry is the generation's JSON exactly as the endpoint writes it, with its owner and
whether it was deleted (the answer is then 404, as from the database). Entries are valid
until the feed says the generation changed: every change invalidates (a terminal
generation changes only by being deleted, or by its outputs being copied). The cache is
trusted only while the feed is connected; when it disconnects or comes back, it is
emptied, since changes may have been missed meanwhile.

A read that started before a change and finishes after it must not put the old state in:
`ticket` before the read, `put` after it; a change of that generation (a counter per
bucket of ids) or a reset in between makes `put` a no-op.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from base_core.generation import Generation

BUCKETS = 4096
DEFAULT_MAX_ENTRIES = 100_000


@attrs.frozen
class CachedView:
    user_id: str
    deleted: bool
    body: bytes  # the endpoint's JSON, with the stored copies' URLs built on `base`
    generation: Generation | None = None  # to write it out again for another base
    base: str | None = None  # None: the body is not to be reused (time-limited URLs)


Ticket = tuple[int, int]


class PollCache:
    def __init__(self, trusted: Callable[[], bool], max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._trusted = trusted
        self._max = max_entries
        self._entries: dict[str, CachedView] = {}
        self._stamps = [0] * BUCKETS
        self._epoch = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, generation_id: str) -> CachedView | None:
        if not self._trusted():
            return None
        view = self._entries.get(generation_id)
        if view is None:
            self.misses += 1
        else:
            self.hits += 1
        return view

    def ticket(self, generation_id: str) -> Ticket:
        return self._epoch, self._stamps[hash(generation_id) % BUCKETS]

    def put(self, generation_id: str, ticket: Ticket, view: CachedView) -> None:
        if not self._trusted() or ticket != self.ticket(generation_id):
            return
        entries = self._entries
        if len(entries) >= self._max and generation_id not in entries:
            del entries[next(iter(entries))]  # the oldest entry
        entries[generation_id] = view

    def invalidate(self, generation_id: str) -> None:
        self._stamps[hash(generation_id) % BUCKETS] += 1
        self._entries.pop(generation_id, None)

    def reset(self) -> None:
        self._epoch += 1
        self._entries.clear()
