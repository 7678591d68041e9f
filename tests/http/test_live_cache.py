"""The poll cache behind GET /api/generations/{id}: the same JSON and the same 404s as
the database read, every change seen on the feed invalidates, a deletion is a 404 at
once, a feed that is not connected is never trusted, and a read that raced a change
never puts the old state in. Also the hub's per-user cap and bounded queues."""

from __future__ import annotations

import gc
import uuid
from collections.abc import AsyncIterator

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from http_helpers import CREATE_BODY, Api, build_services
from litestar.testing import AsyncTestClient

from adapters.feed import LocalFeed
from adapters.memory import MemoryStore
from adapters.system import SystemClock
from base_core.events import GenerationEvent
from base_core.feed import FeedListener, GenerationChange, publish_changes
from base_testing import FakeInference
from entrypoints.http import create_app
from entrypoints.live import CachedView, LiveHub, PollCache, TooManyStreams


class SwitchFeed(LocalFeed):
    """The in-process feed with a connection that can be lost, like PostgreSQL's."""

    def __init__(self) -> None:
        super().__init__()
        self.up = True
        self.listeners: list[FeedListener] = []

    @property
    def connected(self) -> bool:
        return self.up

    def listen(self, listener: FeedListener) -> None:
        super().listen(listener)
        self.listeners.append(listener)

    async def publish(self, change: GenerationChange) -> None:
        if self.up:  # while down, what other processes publish is not heard
            await super().publish(change)

    def switch(self, up: bool) -> None:
        self.up = up
        for listener in self.listeners:
            listener.connection_changed(up)


@attrs.define
class LiveApi:
    api: Api
    plain: Api  # the same store without live status: the database read
    hub: LiveHub
    feed: SwitchFeed

    async def get(self, generation_id: str, user_id: str, api: Api | None = None):
        api = api or self.api
        return await api.client.get(f"/api/generations/{generation_id}", headers=api.auth(user_id))


@pytest.fixture
async def live() -> AsyncIterator[LiveApi]:
    store = MemoryStore()
    inference = FakeInference(SystemClock())
    key = ec.generate_private_key(ec.SECP256R1())
    services, sessions = build_services(store, inference, key)
    plain_services, _ = build_services(store, inference, key)
    await services.studio.add_token("r8_test_token_secret_value_0001", "first")
    feed = SwitchFeed()
    hub = LiveHub(feed, max_streams_per_user=2, queue_size=3)
    services.studio.context.dispatcher.subscribe(publish_changes(feed), GenerationEvent)
    services = attrs.evolve(services, live=hub)
    async with AsyncTestClient(app=create_app(services)) as client, \
            AsyncTestClient(app=create_app(plain_services)) as plain_client:
        yield LiveApi(
            Api(client, services.studio, inference, sessions, key),
            Api(plain_client, plain_services.studio, inference, sessions, key),
            hub, feed,
        )


async def created(live: LiveApi, user_id: str) -> dict:
    response = await live.api.client.post("/api/generations/create", json=CREATE_BODY, headers=live.api.auth(user_id))
    assert response.status_code == 201
    return response.json()


async def test_a_cached_answer_is_the_database_answer_byte_for_byte(live):
    alice = str(uuid.uuid4())
    generation = await created(live, alice)
    first = await live.get(generation["id"], alice)
    hits = live.hub.cache.hits
    second = await live.get(generation["id"], alice)
    from_db = await live.get(generation["id"], alice, live.plain)
    assert live.hub.cache.hits == hits + 1
    assert first.status_code == second.status_code == from_db.status_code == 200
    assert first.content == second.content == from_db.content
    assert second.headers["content-type"] == from_db.headers["content-type"]


async def test_another_user_gets_404_from_the_cache_as_from_the_database(live):
    alice, mallory = str(uuid.uuid4()), str(uuid.uuid4())
    generation = await created(live, alice)
    assert (await live.get(generation["id"], alice)).status_code == 200  # cached now
    hits = live.hub.cache.hits
    response = await live.get(generation["id"], mallory)
    assert live.hub.cache.hits == hits + 1
    assert response.status_code == 404
    assert response.content == (await live.get(generation["id"], mallory, live.plain)).content


async def test_every_change_on_the_feed_invalidates_and_a_deletion_is_404_at_once(live):
    alice = str(uuid.uuid4())
    generation = await created(live, alice)
    assert (await live.get(generation["id"], alice)).json()["status"] == "processing"
    live.api.inference.complete(generation["prediction_id"])
    await live.api.studio.refresh(generation["id"])  # the change, published after commit
    done = await live.get(generation["id"], alice)
    assert done.json()["status"] == "completed"
    assert (await live.get(generation["id"], alice)).content == done.content  # cached again
    assert (await live.api.client.delete(f"/api/generations/{generation['id']}", headers=live.api.auth(alice))).status_code == 200
    assert (await live.get(generation["id"], alice)).status_code == 404
    assert (await live.get(generation["id"], alice)).status_code == 404  # the tombstone


async def test_the_cache_is_bypassed_while_the_feed_is_down_and_emptied_when_it_returns(live):
    alice = str(uuid.uuid4())
    generation = await created(live, alice)
    live.api.inference.complete(generation["prediction_id"])
    await live.api.studio.refresh(generation["id"])
    assert (await live.get(generation["id"], alice)).json()["status"] == "completed"
    live.feed.switch(False)
    assert len(live.hub.cache) == 0
    # Another process deletes it while this one hears nothing: the poll still sees it.
    await live.plain.studio.delete_generation(alice, generation["id"])
    hits = live.hub.cache.hits
    assert (await live.get(generation["id"], alice)).status_code == 404
    assert live.hub.cache.hits == hits and len(live.hub.cache) == 0  # nothing trusted or kept
    live.feed.switch(True)
    assert (await live.get(generation["id"], alice)).status_code == 404


def test_a_read_that_raced_a_change_does_not_put_the_old_state_in():
    connected = [True]
    cache = PollCache(lambda: connected[0])
    view = CachedView("u1", False, b"{}")
    ticket = cache.ticket("g1")
    cache.invalidate("g1")  # the change lands while the read is under way
    cache.put("g1", ticket, view)
    assert cache.get("g1") is None
    ticket = cache.ticket("g1")
    cache.reset()  # the feed reconnected meanwhile
    cache.put("g1", ticket, view)
    assert cache.get("g1") is None
    ticket = cache.ticket("g1")
    cache.put("g1", ticket, view)
    assert cache.get("g1") == view
    connected[0] = False
    assert cache.get("g1") is None
    cache.put("g1", cache.ticket("g1"), view)
    connected[0] = True
    cache.invalidate("g1")
    assert cache.get("g1") is None


def test_the_cache_is_bounded():
    cache = PollCache(lambda: True, max_entries=3)
    for n in range(5):
        cache.put(f"g{n}", cache.ticket(f"g{n}"), CachedView("u", False, b"{}"))
    assert len(cache) == 3 and cache.get("g0") is None and cache.get("g4") is not None


async def test_the_per_user_cap_and_closing_frees_the_place(live):
    hub = live.hub
    first, second = hub.open("u1"), hub.open("u1", "g1")
    with pytest.raises(TooManyStreams):
        hub.open("u1")
    other = hub.open("u2")  # another user is not counted with u1
    first.close()
    third = hub.open("u1")
    assert hub.open_streams == 3
    for subscription in (second, third, other):
        subscription.close()
    assert hub.open_streams == 0


async def test_a_subscription_dropped_unstarted_frees_its_place(live):
    hub = live.hub
    hub.open("u1")
    hub.open("u1")
    gc.collect()
    assert hub.open_streams == 0
    hub.open("u1").close()


async def test_a_slow_reader_overflows_instead_of_losing_changes(live):
    hub = live.hub
    subscription = hub.open("u1")
    for n in range(3):
        hub.changed(GenerationChange(f"g{n}", "u1", 2))
    hub.changed(GenerationChange("g0", "u1", 3))  # the same generation again: merged, no overflow
    assert not subscription.overflowed and subscription.pending == {"g0": 3, "g1": 2, "g2": 2}
    hub.changed(GenerationChange("g3", "u1", 2))
    assert subscription.overflowed
    hub.changed(GenerationChange("g9", "u2", 2))  # other users' changes do not reach it
    assert "g9" not in subscription.pending
    subscription.close()
