"""The live feed's contract, on the in-process feed and on PostgreSQL LISTEN/NOTIFY.

Both: a published change reaches the publisher's own listeners at once and exactly once,
in order, and the feed says it is connected. PostgreSQL: a second feed on the same schema
(another process) hears it too, one on another schema does not, and a listener killed
with pg_terminate_backend says so, comes back, and hears what is published afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.feed import LocalFeed
from adapters.feed.postgres import APPLICATION_NAME, PostgresFeed, channel_for
from adapters.sql import SqlDatabase
from base_core.events import EventDispatcher, GenerationEvent
from base_core.feed import GenerationChange, publish_changes
from contract.conftest import postgres_schema, require_postgres_url

FEEDS = ["local", pytest.param("postgres", marks=pytest.mark.postgres)]


class Recorder:
    def __init__(self) -> None:
        self.changes: list[GenerationChange] = []
        self.connections: list[bool] = []
        self._arrived = asyncio.Event()

    def changed(self, change: GenerationChange) -> None:
        self.changes.append(change)
        self._arrived.set()

    def connection_changed(self, connected: bool) -> None:
        self.connections.append(connected)
        self._arrived.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async def wait() -> None:
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(wait(), timeout)


class Feeds:
    """Feeds of one backend on one database: `open()` is one more process."""

    def __init__(self, backend: str, url: str | None, schema: str | None) -> None:
        self.backend = backend
        self.url = url
        self.schema = schema
        self._stack = contextlib.AsyncExitStack()
        self._local = LocalFeed()

    async def open(self, schema: str | None = None) -> Any:
        if self.backend == "local":
            return self._local  # one process: every listener shares the one feed
        db = SqlDatabase.from_url(self.url, schema=schema or self.schema, pool_size=1, max_overflow=1)
        feed = PostgresFeed(db.engine, db.url, db.schema, min_backoff=0.02, max_backoff=0.2)
        await feed.start()
        self._stack.push_async_callback(db.dispose)
        self._stack.push_async_callback(feed.aclose)
        return feed

    async def aclose(self) -> None:
        await self._stack.aclose()


@pytest.fixture(params=FEEDS)
async def feeds(request: pytest.FixtureRequest) -> AsyncIterator[Feeds]:
    if request.param == "local":
        made = Feeds("local", None, None)
        yield made
        await made.aclose()
        return
    url = require_postgres_url()
    async with postgres_schema(url) as schema:
        made = Feeds("postgres", url, schema)
        try:
            yield made
        finally:
            await made.aclose()


@pytest.fixture
async def pg_feeds() -> AsyncIterator[Feeds]:
    """PostgreSQL only: what needs another process or a connection to lose."""
    url = require_postgres_url()
    async with postgres_schema(url) as schema:
        made = Feeds("postgres", url, schema)
        try:
            yield made
        finally:
            await made.aclose()


def change(n: int, generation: str = "g1", user: str = "u1") -> GenerationChange:
    return GenerationChange(generation, user, n)


async def test_a_change_reaches_the_publishers_listeners_at_once_in_order_and_once(feeds):
    feed = await feeds.open()
    heard = Recorder()
    feed.listen(heard)
    assert feed.connected
    for n in range(1, 6):
        await feed.publish(change(n))
    # In-process delivery is synchronous: nothing to wait for.
    assert heard.changes == [change(n) for n in range(1, 6)]
    await asyncio.sleep(0.2)  # the PostgreSQL echo, if any, would arrive now
    assert heard.changes == [change(n) for n in range(1, 6)]


@pytest.mark.postgres
async def test_another_process_on_the_database_hears_every_change_in_order(pg_feeds):
    feeds = pg_feeds
    a, b = await feeds.open(), await feeds.open()
    heard = Recorder()
    b.listen(heard)
    sent = [change(n, f"g{n % 3}", f"u{n % 2}") for n in range(1, 31)]
    for item in sent:
        await a.publish(item)
    await heard.until(lambda: len(heard.changes) >= len(sent))
    assert heard.changes == sent


@pytest.mark.postgres
async def test_the_channel_is_the_schemas_own(pg_feeds):
    feeds = pg_feeds
    async with postgres_schema(feeds.url) as other_schema:
        mine, other = await feeds.open(), await feeds.open(other_schema)
        assert mine.channel == channel_for(feeds.schema) != other.channel == channel_for(other_schema)
        heard_other = Recorder()
        other.listen(heard_other)
        heard_mine = Recorder()
        (await feeds.open()).listen(heard_mine)
        await mine.publish(change(1))
        await heard_mine.until(lambda: len(heard_mine.changes) == 1)
        await asyncio.sleep(0.2)
        assert heard_other.changes == []


@pytest.mark.postgres
async def test_a_killed_listener_says_so_comes_back_and_hears_what_follows(pg_feeds):
    feeds = pg_feeds
    a, b = await feeds.open(), await feeds.open()
    heard = Recorder()
    b.listen(heard)
    await a.publish(change(1))
    await heard.until(lambda: heard.changes == [change(1)])
    admin = SqlDatabase.from_url(feeds.url, pool_size=1, max_overflow=0)
    try:
        async with admin.engine.begin() as connection:
            killed = (await connection.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid IN (SELECT pid FROM pg_stat_activity "
                "WHERE query LIKE :listen)"
            ), {"name": APPLICATION_NAME, "listen": f'LISTEN "{b.channel}"%'})).scalars().all()
        assert killed, "no listener connection was found to kill"
        await heard.until(lambda: False in heard.connections)
        await heard.until(lambda: heard.connections[-1] is True and b.connected)
        assert b.reconnects >= 1
        await a.publish(change(2))
        await heard.until(lambda: change(2) in heard.changes)
    finally:
        await admin.dispose()


async def test_committed_generation_events_are_published_through_the_dispatcher(feeds):
    from datetime import UTC, datetime

    from base_core.events import GenerationSubmitted, OutputsNotKept

    feed = await feeds.open()
    heard = Recorder()
    feed.listen(heard)
    dispatcher = EventDispatcher()
    dispatcher.subscribe(publish_changes(feed), GenerationEvent)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await dispatcher.dispatch([
        GenerationSubmitted(at=now, generation_id="g1", user_id="u1", version=2,
                            prediction_id="p1", token_id="t1"),
        OutputsNotKept(at=now, generation_id="g1", user_id="u1", version=0, reason="down"),  # changes nothing
    ])
    assert heard.changes == [GenerationChange("g1", "u1", 2)]


@pytest.mark.postgres
async def test_a_change_announced_in_its_transaction_is_heard_once_and_only_if_committed(pg_feeds):
    from datetime import UTC, datetime

    from base_core.events import GenerationSubmitted, UserRegistered

    feeds = pg_feeds
    a, b = await feeds.open(), await feeds.open()
    heard_a, heard_b = Recorder(), Recorder()
    a.listen(heard_a)
    b.listen(heard_b)
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def submitted(version: int) -> GenerationSubmitted:
        return GenerationSubmitted(at=now, generation_id="g1", user_id="u1", version=version,
                                   prediction_id="p1", token_id=None)

    async with a._engine.connect() as connection:  # a unit of work's connection
        await a.announce(connection, [submitted(2), UserRegistered(at=now, user_id="u1")])
        await connection.rollback()
        await a.announce(connection, [submitted(3)])
        await connection.commit()
    await heard_b.until(lambda: len(heard_b.changes) >= 1)
    # After its commit the dispatcher publishes the change: this process hears it, and it
    # is not announced a second time.
    await a.publish(change(3))
    await asyncio.sleep(0.3)
    assert heard_b.changes == [change(3)]
    assert heard_a.changes == [change(3)]


@pytest.mark.postgres
async def test_a_unit_of_work_announces_its_changes_before_it_commits(pg_feeds):
    from datetime import UTC, datetime

    from base_core.events import GenerationSubmitted, made, with_recorded
    from base_core.users import User

    feeds = pg_feeds
    a = await feeds.open()
    db = SqlDatabase.from_url(feeds.url, schema=feeds.schema, pool_size=1, max_overflow=0)
    seen: list[tuple[bool, list[Any]]] = []

    async def before_commit(connection: Any, events: Any) -> None:
        seen.append((connection.in_transaction(), list(events)))
        await a.announce(connection, events)

    db.before_commit = before_commit
    at = datetime(2026, 1, 1, tzinfo=UTC)
    recorded = (GenerationSubmitted, at, "g9", "u9", 4, "p9", None)
    event = made(recorded)
    try:
        async with db.unit_of_work() as uow:
            await uow.commit()  # nothing recorded: nothing to announce
            uow._session.events.collect(with_recorded(User("u9", at), (recorded,)))
            await uow.connection.execute(sa.text("SELECT 1"))
            await uow.commit()
    finally:
        await db.dispose()
    assert seen == [(True, [event])]
