"""The feed across processes: PostgreSQL LISTEN/NOTIFY.

One dedicated asyncpg connection per process listens on the database schema's channel
(so processes on other schemas of the same database, as the tests use, never hear each
other). A change is announced with `pg_notify` through the service's own connection pool
right after the commit that made it; the payload is a few dozen bytes of JSON (ids,
version, and the announcing process, which ignores its own echo: it has already told its
listeners in-process). With `announce` installed as the database's `before_commit`
(`SqlDatabase.before_commit`, as `base serve` runs it), the NOTIFY goes out inside the
transaction that made the change: PostgreSQL delivers it at the commit and only if the
commit succeeds, and no connection, BEGIN or COMMIT of its own is spent on it; `publish`
then only tells this process's listeners.

When the listening connection drops (a restart, a failover, `pg_terminate_backend`),
the feed says so (`connected` false, `connection_changed(False)`), reconnects with
exponential backoff, and says so again once it listens; notifications sent meanwhile are
lost, which is why listeners read the database themselves while it is down. A connection
that dies silently is found by a `SELECT 1` every `check_every` seconds. An announcement
that fails (the pool cannot reach the server) is kept, in order, and sent again with
backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from base_core.events import DomainEvent, GenerationEvent
from base_core.feed import FeedListener, GenerationChange, change_of

log = logging.getLogger("base.feed")

APPLICATION_NAME = "base-feed"
MAX_CHANNEL = 63  # PostgreSQL's identifier length
MAX_UNSENT = 10_000
NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")
NOTIFY_ALL = sa.text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p")


def channel_for(schema: str) -> str:
    """The schema's channel name, hashed when the schema's name would make it too long."""
    name = f"base_generations_{schema}"
    if len(name) <= MAX_CHANNEL:
        return name
    return "base_generations_" + hashlib.sha256(schema.encode()).hexdigest()[:32]


def asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresFeed:
    def __init__(
        self,
        engine: AsyncEngine,
        url: URL,
        schema: str | None = None,
        *,
        min_backoff: float = 0.05,
        max_backoff: float = 5.0,
        check_every: float = 10.0,
    ) -> None:
        self._engine = engine
        self._dsn = asyncpg_dsn(url)
        self._schema = schema
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._check_every = check_every
        self._origin = uuid.uuid4().hex[:12]
        self._listeners: list[FeedListener] = []
        self._connected = False
        self._channel = ""
        self._task: asyncio.Task[None] | None = None
        self._unsent: deque[str] = deque(maxlen=MAX_UNSENT)
        self._resend: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._in_transaction = False
        self.reconnects = 0  # times the listener came back after losing its connection

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def channel(self) -> str:
        return self._channel

    def listen(self, listener: FeedListener) -> None:
        self._listeners.append(listener)

    async def start(self, wait: float = 10.0) -> None:
        """Learn the channel, start listening; waits up to `wait` s for the first LISTEN."""
        async with self._engine.connect() as connection:
            schema = self._schema or await connection.scalar(sa.text("SELECT current_schema()"))
        self._channel = channel_for(str(schema))
        self._task = asyncio.create_task(self._run(), name="base-feed-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), wait)

    async def aclose(self) -> None:
        for task in (self._task, self._resend):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._resend = None
        self._set_connected(False)
        self._listeners.clear()

    # Announcing

    async def announce(self, connection: AsyncConnection, events: Sequence[DomainEvent]) -> None:
        """A `before_commit` hook: NOTIFY every generation change `events` record, in the
        committing transaction, in one statement. From the first call on, `publish` leaves
        the NOTIFY to it."""
        self._in_transaction = True
        payloads = [
            self._payload(change) for event in events
            if isinstance(event, GenerationEvent) and (change := change_of(event)) is not None
        ]
        if payloads:
            await connection.execute(NOTIFY_ALL, {"channel": self._channel, "payloads": payloads})

    def _payload(self, change: GenerationChange) -> str:
        return json.dumps(
            {"g": change.generation_id, "u": change.user_id, "v": change.version, "o": self._origin},
            separators=(",", ":"),
        )

    async def publish(self, change: GenerationChange) -> None:
        for listener in self._listeners:
            listener.changed(change)
        if self._in_transaction:
            return  # announced by the transaction that made it
        payload = self._payload(change)
        if self._unsent:  # keep the order: behind the ones waiting
            self._unsent.append(payload)
            return
        try:
            await self._notify(payload)
        except Exception as error:  # the pool could not reach the server: later, in order
            log.warning("could not announce a change, will retry: %s", type(error).__name__)
            self._unsent.append(payload)
            if self._resend is None or self._resend.done():
                self._resend = asyncio.create_task(self._send_unsent(), name="base-feed-resend")

    async def _notify(self, payload: str) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(NOTIFY, {"channel": self._channel, "payload": payload})
            await connection.commit()

    async def _send_unsent(self) -> None:
        delay = self._min_backoff
        while self._unsent:
            try:
                await self._notify(self._unsent[0])
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            self._unsent.popleft()
            delay = self._min_backoff

    # Listening

    async def _run(self) -> None:
        delay = self._min_backoff
        first = True
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": APPLICATION_NAME}
                )
            except (TimeoutError, OSError, asyncpg.PostgresError) as error:
                log.warning("feed listener cannot connect (%s); retrying in %.2fs", type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            lost = asyncio.Event()
            try:
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(self._channel, self._received)
                if not first:
                    self.reconnects += 1
                first = False
                delay = self._min_backoff
                self._set_connected(True)
                self._listening.set()
                await self._watch(connection, lost)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass
            finally:
                self._set_connected(False)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 1.0)
            log.warning("feed listener lost its connection; reconnecting in %.2fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _watch(self, connection: Any, lost: asyncio.Event) -> None:
        """Until the connection is lost; a `SELECT 1` now and then finds a silent death."""
        while not lost.is_set() and not connection.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._check_every)
                return
            await connection.fetchval("SELECT 1", timeout=self._check_every / 2)

    def _received(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.get("o") == self._origin:
                return  # our own: told in-process already
            change = GenerationChange(str(data["g"]), str(data["u"]), int(data["v"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed feed notification")
            return
        for listener in self._listeners:
            listener.changed(change)

    def _set_connected(self, connected: bool) -> None:
        if connected is self._connected:
            return
        self._connected = connected
        for listener in self._listeners:
            listener.connection_changed(connected)
