"""The feed's listener in one process: who is waiting for which changes.

Each open event stream holds a `Subscription`: to one generation, or to every generation
of one user. A change wakes the subscriptions it concerns; they read what they need.
A subscription's pending changes are bounded (`queue_size` distinct generations): a
reader that falls that far behind is marked `overflowed`, and its stream ends with a final
event saying so instead of silently losing changes. While the feed is not connected (and
always on SQLite, where other processes may write the same file), streams read the
database every `poll_interval` seconds (`must_poll`); when the feed comes back, every
subscription is told to read once more (`resync`) for what was missed.

Open streams are counted per user (`max_streams_per_user`); `open` beyond that raises
`TooManyStreams` (429), and closing a subscription frees its place at once.

Keep-alives come from one timer for the whole process, not one per stream: a stream that
wrote (`wrote`) goes to the back of a queue ordered by its last write, and the hub's tick
marks the streams quiet for `keepalive` seconds (`keepalive_due`) from the front, at most
`KEEPALIVE_BATCH` every `KEEPALIVE_SPACING` seconds, so thousands of streams opened
together neither write in one turn of the event loop nor fill every turn for a while
(3,200 keep-alives a second: with the default 15 s, 48,000 streams before they run late).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import Counter

from base_core.errors import DomainError, InfrastructureError, TooManyInFlight
from base_core.feed import ChangeFeed, GenerationChange
from entrypoints.live.cache import PollCache
from entrypoints.live.reads import SharedReads

DEFAULT_QUEUE_SIZE = 256
KEEPALIVE_BATCH = 8  # streams told to write a keep-alive at once
KEEPALIVE_SPACING = 0.0025  # seconds between two such batches


class TooManyStreams(TooManyInFlight):
    """A 429 with Retry-After, as a user at their in-flight cap gets."""

    def __init__(self, limit: int, retry_after: float = 5.0) -> None:
        DomainError.__init__(self, f"at most {limit} event streams may be open at once")
        self.limit = limit
        self.retry_after = retry_after


class Subscription:
    __slots__ = (
        "__weakref__", "_hub", "_waiter", "_woken", "closed", "generation_id", "keepalive_due",
        "overflowed", "pending", "quiet_since", "resync", "stopping", "user_id",
    )

    def __init__(self, hub: LiveHub, user_id: str, generation_id: str | None) -> None:
        self._hub = hub
        self.user_id = user_id
        self.generation_id = generation_id
        self.pending: dict[str, int] = {}  # generation id → newest version heard of
        self.overflowed = False
        self.resync = False
        self.closed = False
        self.stopping = False  # the process is stopping (or the client left): end now
        self.keepalive_due = False  # quiet for `keepalive` seconds: write a comment
        self.quiet_since = 0.0  # the event loop's time of the stream's last write
        # A future while waiting, nothing else (a timer only when polling): thousands of
        # idle streams should cost little (no task per wait, as asyncio.wait_for makes).
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def offer(self, change: GenerationChange) -> None:
        pending = self.pending
        if change.generation_id not in pending and len(pending) >= self._hub.queue_size:
            self.overflowed = True
        else:
            if change.version > pending.get(change.generation_id, 0):
                pending[change.generation_id] = change.version
        self._wake()

    def stop(self) -> None:
        self.stopping = True
        self._wake()

    def hang_up(self, _: object = None) -> None:
        """The client went away: free the place now, and end the stream when it wakes."""
        self.close()
        self.stop()

    def wrote(self) -> None:
        """The stream wrote: its next keep-alive is due `keepalive` seconds from now."""
        self.keepalive_due = False
        if not self.closed:
            self._hub._quiet_from_now(self)

    def _keepalive(self) -> None:
        self.keepalive_due = True
        self._wake()

    def wake_for_resync(self) -> None:
        self.resync = True
        self._wake()

    async def wait(self, timeout: float | None = None) -> bool:
        """True when woken (a change, a resync, a keep-alive due, a stop), False after
        `timeout` seconds (None: no limit)."""
        if not self._woken:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                self._waiter = None
        woken, self._woken = self._woken, False
        return woken

    def take(self) -> dict[str, int]:
        pending, self.pending = self.pending, {}
        return pending

    def take_resync(self) -> bool:
        resync, self.resync = self.resync, False
        return resync

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub._remove(self)

    def __del__(self) -> None:  # a stream whose body never started still frees its place
        if not self.closed:
            self.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LiveHub:
    """A FeedListener: routes the feed's changes to subscriptions and the poll cache."""

    def __init__(
        self,
        feed: ChangeFeed,
        *,
        max_streams_per_user: int = 8,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        poll_interval: float = 1.0,
        keepalive: float = 15.0,
        always_poll: bool = False,
        cache: bool = True,
    ) -> None:
        self.feed = feed
        self.max_streams_per_user = max_streams_per_user
        self.queue_size = queue_size
        self.poll_interval = poll_interval
        self.keepalive = keepalive
        self.always_poll = always_poll
        self.cache = PollCache(lambda: cache and feed.connected)
        self.reads = SharedReads(self.cache)
        # Weak: a subscription is kept alive by its stream; one whose stream is dropped
        # before it started (its `finally` never runs) is collected and frees its place.
        self._by_generation: dict[str, weakref.WeakSet[Subscription]] = {}
        self._by_user: dict[str, weakref.WeakSet[Subscription]] = {}
        self._open: Counter[str] = Counter()
        # Streams by their last write, oldest first (a dict keeps insertion order), and
        # the one timer that tells the front ones to write a keep-alive.
        self._quiet: dict[Subscription, None] = {}
        self._tick: asyncio.TimerHandle | None = None
        self._tick_loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False
        self.connection_changed_at = time.monotonic()
        feed.listen(self)
        _HUBS.add(self)

    @property
    def must_poll(self) -> bool:
        return self.always_poll or not self.feed.connected

    @property
    def open_streams(self) -> int:
        return sum(self._open.values())

    def open(self, user_id: str, generation_id: str | None = None) -> Subscription:
        if self.stopping:
            raise InfrastructureError("this process is stopping: open the stream again")
        if self._open[user_id] >= self.max_streams_per_user:
            raise TooManyStreams(self.max_streams_per_user)
        self._open[user_id] += 1
        subscription = Subscription(self, user_id, generation_id)
        if generation_id is None:
            self._by_user.setdefault(user_id, weakref.WeakSet()).add(subscription)
        else:
            self._by_generation.setdefault(generation_id, weakref.WeakSet()).add(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        self._quiet.pop(subscription, None)
        user_id = subscription.user_id
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]
        key, index = (
            (user_id, self._by_user)
            if subscription.generation_id is None
            else (subscription.generation_id, self._by_generation)
        )
        subscribers = index.get(key)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del index[key]
                if subscription.generation_id is None:
                    self.reads.forget_user(key)
                else:
                    self.reads.forget(key)

    def _quiet_from_now(self, subscription: Subscription) -> None:
        loop = asyncio.get_running_loop()
        subscription.quiet_since = loop.time()
        quiet = self._quiet
        quiet.pop(subscription, None)
        quiet[subscription] = None
        if self._tick is None or self._tick_loop is not loop:
            self._tick_loop = loop
            self._tick = loop.call_at(subscription.quiet_since + self.keepalive, self._keepalives)

    def _keepalives(self) -> None:
        self._tick = None
        quiet = self._quiet
        loop = asyncio.get_running_loop()
        now = loop.time()
        for _ in range(KEEPALIVE_BATCH):
            if not quiet:
                return
            subscription = next(iter(quiet))
            due = subscription.quiet_since + self.keepalive
            if due > now:
                self._tick = loop.call_at(due, self._keepalives)
                return
            del quiet[subscription]
            subscription._keepalive()
        if quiet:  # more may be due: the next batch a little later, after these have written
            self._tick = loop.call_later(KEEPALIVE_SPACING, self._keepalives)

    def stop_streams(self) -> None:
        """The process is stopping: every open stream ends (its client reconnects to
        another process), so a graceful shutdown does not wait on streams that never end."""
        self.stopping = True
        for subscriptions in (*self._by_generation.values(), *self._by_user.values()):
            for subscription in tuple(subscriptions):
                subscription.stop()

    # FeedListener

    def changed(self, change: GenerationChange) -> None:
        self.cache.invalidate(change.generation_id)
        # Copies: a subscription dropped by the garbage collector may close meanwhile.
        for subscription in tuple(self._by_generation.get(change.generation_id, ())):
            subscription.offer(change)
        for subscription in tuple(self._by_user.get(change.user_id, ())):
            subscription.offer(change)

    def connection_changed(self, connected: bool) -> None:
        self.connection_changed_at = time.monotonic()
        self.cache.reset()
        for subscriptions in (*self._by_generation.values(), *self._by_user.values()):
            for subscription in tuple(subscriptions):
                subscription.wake_for_resync()


# The hubs of this process, for `stop_all_streams` when the server begins to shut down.
_HUBS: weakref.WeakSet[LiveHub] = weakref.WeakSet()


def stop_all_streams() -> None:
    """End every event stream of this process (call it on the event loop's thread)."""
    for hub in tuple(_HUBS):
        hub.stop_streams()
