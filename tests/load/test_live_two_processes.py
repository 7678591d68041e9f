"""Two `base serve` on one PostgreSQL database: Replicate's webhooks reach process A only
(BASE_PUBLIC_URL), and process B learns of every change through the live feed.

A poll and a stream on B see a webhook received by A; a delete on A is a 404 on B at once
(B's poll cache is kept fresh by the feed); and with the feed's listener connections
killed by pg_terminate_backend mid-run, B's streams still get every change (the fallback
reads, then the listener again) and B's polls never answer a stale terminal or deleted
state."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from money_load import fresh_database, servers, simulator_process
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.auth import SessionTokens
from adapters.feed.postgres import APPLICATION_NAME
from live_server import call, free_port
from sse_client import EventStream

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BODY = {"action": "create", "model_id": "flux-schnell", "prompt": "two harbours",
        "settings": {"num_outputs": 1}}
TERMINAL = ("completed", "failed", "canceled")


def until(condition, timeout: float = 20.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("not in time")


def poll(url: str, token: str, generation_id: str) -> tuple[int, dict | None]:
    return call("GET", f"{url}/api/generations/{generation_id}", token=token)


def create(url: str, token: str) -> dict:
    status, created = call("POST", f"{url}/api/generations/create", BODY, token)
    assert status == 201, created
    return created


def events_until(stream: EventStream, done, timeout: float = 20.0) -> list:
    seen = []
    deadline = time.monotonic() + timeout
    while not any(done(e) for e in seen):
        seen.append(stream.next(max(deadline - time.monotonic(), 0.01)))
    return seen


async def kill_listeners(database_url: str) -> list[int]:
    """pg_terminate_backend on every feed listener of the database; waits until they are gone."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            pids = (await connection.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                "AND datname = current_database()"), {"name": APPLICATION_NAME})).scalars().all()
            for pid in pids:
                await connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                left = (await connection.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": list(pids)})).scalar()
            if not left:
                break
        return list(pids)
    finally:
        await engine.dispose()


async def listeners(database_url: str) -> int:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                "AND datname = current_database() AND query LIKE 'LISTEN%'"), {"name": APPLICATION_NAME})).scalar()
    finally:
        await engine.dispose()


async def test_a_change_received_by_one_process_reaches_the_other_and_survives_a_lost_listener():
    postgres = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not postgres:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set (required in CI)")
    secret = secrets.token_urlsafe(48)
    sessions = SessionTokens(secret)
    ports = [free_port(), free_port()]
    async with fresh_database(postgres) as database_url:
        with tempfile.TemporaryDirectory() as tmp, simulator_process(Path(tmp)) as simulator:
            env = {
                "BASE_DATABASE_URL": database_url,
                "BASE_REPLICATE_BASE_URL": simulator,
                "BASE_REPLICATE_TOKENS": "r8_live_token_a_000000001",
                "BASE_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",  # webhooks reach A only
                "BASE_SESSION_SECRET": secret,
                "BASE_ALLOW_PRIVATE_IMAGE_URLS": "true",
                "BASE_RECONCILE_AFTER_SECONDS": "600",  # B never asks Replicate itself
                "BASE_LIVE_POLL_SECONDS": "0.2",
                "BASE_OUTPUT_DIR": str(Path(tmp) / "outputs"),
            }
            with servers(env, ports, Path(tmp)) as (a, b):
                await until_async(lambda: listeners(database_url), 2)
                user = str(uuid.uuid4())
                token = sessions.issue(user)
                slow = {"starting_delay": 0.3, "processing_delay": 1.5}
                httpx.patch(f"{simulator}/_sim/settings", json=slow).raise_for_status()

                # 1. A webhook into A: B's poll (cached while processing) and B's streams see it.
                with EventStream(f"{b}/api/generations/events", token) as gallery:
                    created = create(a, token)
                    generation_id = created["id"]
                    status, first = poll(b, token, generation_id)
                    assert status == 200 and first["status"] not in TERMINAL
                    assert poll(b, token, generation_id)[1] == first  # from B's cache
                    with EventStream(f"{b}/api/generations/{generation_id}/events", token) as one:
                        states = [e.json() for e in one.until_end()]
                    assert states[-1]["status"] == "completed"
                    done = until(lambda: (lambda r: r[1] if r[1]["status"] == "completed"
                                          and "/outputs/" in r[1]["output_urls"][0] else None)(
                        poll(b, token, generation_id)))
                    assert done == poll(a, token, generation_id)[1]
                    heard = events_until(gallery, lambda e: e.kind == "generation"
                                         and e.json()["status"] == "completed")
                    assert {e.json()["id"] for e in heard} == {generation_id}

                    # 2. A delete on A is a 404 on B, at once and for good.
                    assert call("DELETE", f"{a}/api/generations/{generation_id}", token=token)[0] == 200
                    deleted = events_until(gallery, lambda e: e.kind == "deleted")
                    assert deleted[-1].json() == {"id": generation_id, "deleted": True}
                    assert poll(b, token, generation_id)[0] == 404

                # 3. The listeners killed mid-run.
                finished = create(a, token)
                until(lambda: poll(a, token, finished["id"])[1]["status"] == "completed")
                assert poll(b, token, finished["id"])[1]["status"] == "completed"  # cached on B
                running = create(a, token)
                with EventStream(f"{b}/api/generations/events", token) as gallery, \
                        EventStream(f"{b}/api/generations/{running['id']}/events", token) as one:
                    assert gallery.next(comments=True).kind == "comment"
                    assert one.next().json()["status"] not in TERMINAL
                    killed = await kill_listeners(database_url)
                    assert len(killed) == 2
                    # Deleted on A while B's listener is gone: B's cache must not answer 200.
                    assert call("DELETE", f"{a}/api/generations/{finished['id']}", token=token)[0] == 200
                    assert poll(b, token, finished["id"])[0] == 404
                    during = create(a, token)
                    # Every change still reaches B's streams: the fallback, then the listener.
                    rest = one.until_end()
                    assert rest[-1].json()["status"] == "completed"
                    versions = [int(e.id) for e in rest]
                    assert versions == sorted(set(versions))
                    seen = events_until(gallery, lambda e: e.json().get("id") == during["id"]
                                        and e.json().get("status") == "completed", timeout=30)
                    ids = {e.json()["id"] for e in seen}
                    assert {running["id"], during["id"], finished["id"]} <= ids
                    assert any(e.kind == "deleted" and e.json()["id"] == finished["id"] for e in seen)
                await until_async(lambda: listeners(database_url), 2, timeout=20)
                # After the listener is back, B's polls follow A again.
                assert poll(b, token, during["id"])[1] == poll(a, token, during["id"])[1]
                assert call("DELETE", f"{a}/api/generations/{during['id']}", token=token)[0] == 200
                assert poll(b, token, during["id"])[0] == 404
                logs = "".join(p.read_text() for p in Path(tmp).glob("serve-*.log"))
                assert "feed listener lost its connection" in logs


async def until_async(probe, expected: int, timeout: float = 20.0) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe() >= expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the feed listeners are not all listening")


