"""Fan-out without a read per stream: the streams following one generation send what one
read found, encoded once, for each change (and, when they must poll, one read per poll
interval); a read is shared only between streams of the generation's owner. Keep-alives
come from one timer, a bounded number of streams at a time, spaced out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from http_helpers import CREATE_BODY, Api, build_services
from litestar.testing import AsyncTestClient

from adapters.feed import LocalFeed
from adapters.memory import MemoryStore
from adapters.system import SystemClock
from base_core import Generation, Studio
from base_core.events import GenerationEvent
from base_core.feed import publish_changes
from base_testing import FakeInference
from entrypoints.http import create_app
from entrypoints.http.live import _follow_one, _follow_user
from entrypoints.live import LiveHub
from entrypoints.live.hub import KEEPALIVE_BATCH, KEEPALIVE_SPACING

STREAMS = 50
BASE = "http://testserver.local/"
ALICE, MALLORY = str(uuid.uuid4()), str(uuid.uuid4())


class CountingStudio:
    """The studio, with its reads of one generation counted (what the streams call)."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.context = studio.context
        self.reads: list[tuple[str, str]] = []
        self.changes_read: list[str] = []

    async def generations_changed_since(
        self, user_id: str, since: datetime, limit: int = 500
    ) -> list[Generation]:
        self.changes_read.append(user_id)
        return await self.studio.generations_changed_since(user_id, since, limit)

    async def find_generation(self, user_id: str, generation_id: str) -> Generation | None:
        self.reads.append((user_id, generation_id))
        return await self.studio.find_generation(user_id, generation_id)


@attrs.define
class Setup:
    api: Api
    other: Api  # the same store, announcing nothing: another process's writes
    hub: LiveHub
    studio: CountingStudio

    async def create(self, user_id: str) -> dict[str, Any]:
        response = await self.api.client.post(
            "/api/generations/create", json=CREATE_BODY, headers=self.api.auth(user_id)
        )
        assert response.status_code == 201
        return response.json()


def links(keys: tuple[str, ...]) -> list[str]:
    return [f"{BASE}outputs/{key}" for key in keys]


@pytest.fixture(params=[False, True], ids=["feed", "polling"])
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    store = MemoryStore()
    inference = FakeInference(SystemClock())
    key = ec.generate_private_key(ec.SECP256R1())
    services, sessions = build_services(store, inference, key)
    other_services, _ = build_services(store, inference, key)
    await services.studio.add_token("r8_test_token_secret_value_0001", "first")
    feed = LocalFeed()
    hub = LiveHub(feed, max_streams_per_user=STREAMS + 5, poll_interval=0.05, always_poll=request.param)
    services.studio.context.dispatcher.subscribe(publish_changes(feed), GenerationEvent)
    services = attrs.evolve(services, live=hub)
    async with AsyncTestClient(app=create_app(services)) as client, \
            AsyncTestClient(app=create_app(other_services)) as other_client:
        yield Setup(
            Api(client, services.studio, inference, sessions, key),
            Api(other_client, other_services.studio, inference, sessions, key),
            hub, CountingStudio(services.studio),
        )


async def _next_of_all(streams: list[AsyncIterator[bytes]]) -> list[asyncio.Future[bytes]]:
    waiting = [asyncio.ensure_future(anext(stream)) for stream in streams]
    await asyncio.sleep(0.01)  # every stream is waiting on its subscription
    return waiting


async def test_one_read_and_one_encoding_per_change_for_every_stream_of_a_generation(setup):
    hub, studio = setup.hub, setup.studio
    generation = await setup.create(ALICE)
    first = await hub.reads.latest(ALICE, generation["id"], studio.find_generation)
    streams = [
        _follow_one(hub, studio, hub.open(ALICE, generation["id"]), first, 0, links, BASE)  # type: ignore[arg-type]
        for _ in range(STREAMS)
    ]
    opening = [await anext(stream) for stream in streams]
    assert all(chunk is opening[0] for chunk in opening)  # encoded once
    assert b'"status":"processing"' in opening[0] or b'"status":"starting"' in opening[0]
    studio.reads.clear()
    waiting = await _next_of_all(streams)
    setup.api.inference.complete(generation["prediction_id"])
    if hub.always_poll:  # another process writes it: nothing is announced here
        await setup.other.studio.refresh(generation["id"])
    else:
        await setup.api.studio.refresh(generation["id"])
    changed = await asyncio.wait_for(asyncio.gather(*waiting), 5)
    assert all(chunk is changed[0] for chunk in changed)
    assert b'"status":"completed"' in changed[0]
    assert studio.reads == [(ALICE, generation["id"])]  # one read for all the streams
    for stream in streams:
        await stream.aclose()  # type: ignore[attr-defined]
    assert hub.open_streams == 0


@pytest.mark.parametrize("setup", [True], ids=["polling"], indirect=True)
async def test_polling_streams_share_one_read_per_interval(setup):
    hub, studio = setup.hub, setup.studio
    generation = await setup.create(ALICE)
    first = await hub.reads.latest(ALICE, generation["id"], studio.find_generation)
    streams = [
        _follow_one(hub, studio, hub.open(ALICE, generation["id"]), first, 0, links, BASE)  # type: ignore[arg-type]
        for _ in range(STREAMS)
    ]
    for stream in streams:
        await anext(stream)
    studio.reads.clear()
    waiting = await _next_of_all(streams)
    await asyncio.sleep(0.5)  # ten poll intervals, nothing changed
    assert not any(task.done() for task in waiting)
    assert 0 < len(studio.reads) <= 0.5 / hub.poll_interval + 2  # not one per stream
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    for stream in streams:
        await stream.aclose()  # type: ignore[attr-defined]


async def test_a_shared_read_is_never_another_users(setup):
    hub, studio = setup.hub, setup.studio
    generation = await setup.create(ALICE)
    alice, mallory = await asyncio.gather(
        hub.reads.latest(ALICE, generation["id"], studio.find_generation),
        hub.reads.latest(MALLORY, generation["id"], studio.find_generation),
    )
    assert alice.generation is not None and alice.generation.id == generation["id"]
    assert mallory.generation is None  # mallory's own read, which finds nothing of alice's
    assert (MALLORY, generation["id"]) in studio.reads


@pytest.mark.parametrize("setup", [False], ids=["feed"], indirect=True)
async def test_gallery_streams_of_a_user_share_the_read_of_a_change(setup):
    hub, studio = setup.hub, setup.studio
    streams = [
        _follow_user(hub, studio, hub.open(ALICE), None, None, links, BASE)  # type: ignore[arg-type]
        for _ in range(STREAMS)
    ]
    for stream in streams:
        assert (await anext(stream)).startswith(b": keep-alive")
    waiting = await _next_of_all(streams)
    studio.reads.clear()
    generation = await setup.create(ALICE)
    created = await asyncio.wait_for(asyncio.gather(*waiting), 5)
    assert all(chunk is created[0] for chunk in created)
    assert generation["id"].encode() in created[0]
    assert len(studio.reads) == 1
    for stream in streams:
        await stream.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("setup", [True], ids=["polling"], indirect=True)
async def test_polling_gallery_streams_of_a_user_share_one_read_per_interval(setup):
    hub, studio = setup.hub, setup.studio
    streams = [
        _follow_user(hub, studio, hub.open(ALICE), None, None, links, BASE)  # type: ignore[arg-type]
        for _ in range(STREAMS)
    ]
    bob = _follow_user(hub, studio, hub.open(MALLORY), None, None, links, BASE)  # type: ignore[arg-type]
    for stream in (*streams, bob):
        await anext(stream)
    waiting = await _next_of_all(streams)
    bob_waiting = asyncio.ensure_future(anext(bob))
    await asyncio.sleep(0.5)  # ten poll intervals
    assert not any(task.done() for task in waiting)
    reads = studio.changes_read
    assert 0 < reads.count(ALICE) <= 0.5 / hub.poll_interval + 2  # not one per stream
    assert reads.count(MALLORY) > 0  # another user's streams read their own
    created = await setup.other.client.post(  # another process: nothing is announced here
        "/api/generations/create", json=CREATE_BODY, headers=setup.other.auth(ALICE)
    )
    assert created.status_code == 201
    arrived = await asyncio.wait_for(asyncio.gather(*waiting), 5)
    assert all(created.json()["id"].encode() in chunk for chunk in arrived)
    assert not bob_waiting.done()  # alice's generation never reaches another user's stream
    bob_waiting.cancel()
    await asyncio.gather(bob_waiting, return_exceptions=True)
    for stream in (*streams, bob):
        await stream.aclose()  # type: ignore[attr-defined]


async def test_a_resumed_stream_with_nothing_new_still_gets_keepalives(setup):
    hub, studio = setup.hub, setup.studio
    hub.keepalive = 0.05
    generation = await setup.create(ALICE)
    first = await hub.reads.latest(ALICE, generation["id"], studio.find_generation)
    assert first.generation is not None
    resumed = _follow_one(  # Last-Event-ID: the version the client already has
        hub, studio, hub.open(ALICE, generation["id"]), first, first.generation.version, links, BASE,  # type: ignore[arg-type]
    )
    assert await asyncio.wait_for(anext(resumed), 2) == b": keep-alive\r\n\r\n"
    assert await asyncio.wait_for(anext(resumed), 2) == b": keep-alive\r\n\r\n"
    await resumed.aclose()  # type: ignore[attr-defined]


async def test_keepalives_come_from_one_timer_in_spaced_batches(setup):
    hub = setup.hub
    subscriptions = [hub.open(ALICE, f"g{n}") for n in range(STREAMS)]
    for subscription in subscriptions:
        subscription.wrote()
    assert not any(s.keepalive_due for s in subscriptions)
    await asyncio.sleep(hub.keepalive if hub.keepalive < 1 else 0)
    for subscription in subscriptions:  # as if their last write was long ago
        subscription.quiet_since -= hub.keepalive
    hub._keepalives()
    assert sum(s.keepalive_due for s in subscriptions) == KEEPALIVE_BATCH
    await asyncio.sleep(0)
    assert sum(s.keepalive_due for s in subscriptions) == KEEPALIVE_BATCH  # not the next turn
    for _ in range(400):  # the rest follow, a batch at a time (timers may run late here)
        if all(s.keepalive_due for s in subscriptions):
            break
        await asyncio.sleep(KEEPALIVE_SPACING)
    assert all(s.keepalive_due for s in subscriptions)
    subscriptions[0].wrote()  # a stream that wrote is due again only `keepalive` later
    assert not subscriptions[0].keepalive_due
    for subscription in subscriptions:
        subscription.close()
    assert hub.open_streams == 0
