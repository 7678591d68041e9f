"""SIGKILL a real `base serve` with generations in flight: after a restart nothing is lost.

Two windows are hit on purpose: between the credit hold and Replicate's answer (the
simulator holds the create call open, so the process dies while it hangs) and after
submission (the prediction runs at Replicate while nobody is there to hear about it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from durability_helpers import (
    BASE,
    INITIAL,
    Service,
    assert_books_balance,
    books,
    call,
    client,
    free_port,
    service_env,
    wait_for,
)
from sqlalchemy.ext.asyncio import create_async_engine

from replicate_simulator import Fault

pytestmark = pytest.mark.slow

SUBMITTED = 3  # running at Replicate when the process dies
HANGING = 2  # held, and inside the create call when the process dies


def postgres_url() -> str:
    url = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    return url


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
        return
    server = postgres_url()
    name = f"durability_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = server.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pending_count(database_url: str, user_id: str) -> int:
    return books(database_url, [user_id])[user_id].pending_holds


def test_sigkill_between_hold_and_submission_and_after_it(simulator, sessions, database_url, tmp_path):
    env = service_env(
        simulator, database_url, BASE_OUTPUT_DIR=str(tmp_path / "outputs"), BASE_PENDING_AFTER_SECONDS="2"
    )
    if database_url.startswith("postgresql"):
        migrated = subprocess.run([str(BASE), "migrate"], env=env, capture_output=True, text=True)
        assert migrated.returncode == 0, migrated.stderr
    service = Service(env, tmp_path, free_port()).start()
    user_id = str(uuid.uuid4())
    user = client(service, sessions, user_id)
    simulator.settings.processing_delay = 4.0
    try:
        submitted = []
        for _ in range(SUBMITTED):
            status, body = user.create()
            assert status == 201 and body["status"] == "processing", body
            submitted.append(body["id"])

        # Every create call now hangs at "Replicate" long after the process is gone.
        simulator.faults.add(Fault(operation="create", delay=20.0))
        pool = ThreadPoolExecutor(max_workers=HANGING)
        hanging = [pool.submit(user.create) for _ in range(HANGING)]
        wait_for(
            lambda: pending_count(database_url, user_id) == SUBMITTED + HANGING, 30,
            "the hanging creates to hold their credits",
        )
        service.kill()
        for future in hanging:
            with pytest.raises(OSError):  # the connection died with the process
                future.result(timeout=30)
        pool.shutdown()
    finally:
        simulator.faults.clear()
        simulator.settings.processing_delay = 0.6
    assert books(database_url, [user_id])[user_id].balance == INITIAL - SUBMITTED - HANGING

    # Restart: the predictions that ran meanwhile are found, the orphaned holds voided. On
    # PostgreSQL two processes come back at once and reconcile side by side.
    restarted = service.start()
    others = []
    if database_url.startswith("postgresql"):
        (tmp_path / "second").mkdir()
        others.append(Service(env, tmp_path / "second", free_port()).start())
    with_id = client(restarted, sessions, user_id)
    page_status, page = _list(with_id)
    assert page_status == 200 and page["total"] == SUBMITTED + HANGING
    every = [g["id"] for g in page["generations"]]
    outcomes = with_id.wait_terminal(every, timeout=90)
    completed = sorted(gid for gid, g in outcomes.items() if g["status"] == "completed")
    assert completed == sorted(submitted)
    for gid in set(every) - set(submitted):
        assert outcomes[gid]["status"] == "failed"
        assert "credits returned" in outcomes[gid]["error_message"]
    wait_for(lambda: pending_count(database_url, user_id) == 0, 30, "every hold to be resolved")
    found = assert_books_balance(database_url, [user_id], INITIAL)
    assert found[user_id].balance == INITIAL - SUBMITTED == with_id.credits()
    for process in [restarted, *others]:
        assert process.stop() == 0, process.logs()


def _list(user) -> tuple[int, dict]:
    return call("GET", f"{user.service.url}/api/generations/list?limit=100", token=user.token)


def test_base_reconcile_alone_resolves_what_a_killed_process_left(simulator, sessions, tmp_path):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = service_env(simulator, database_url, BASE_OUTPUT_DIR=str(tmp_path / "outputs"))
    service = Service(env, tmp_path, free_port()).start()
    user_id = str(uuid.uuid4())
    user = client(service, sessions, user_id)
    status, body = user.create()
    assert status == 201, body
    simulator.faults.add(Fault(operation="create", delay=20.0))
    with ThreadPoolExecutor(max_workers=1) as pool:
        hanging = pool.submit(user.create)
        wait_for(lambda: pending_count(database_url, user_id) == 2, 30, "the hanging create to hold")
        service.kill()
        with pytest.raises(OSError):
            hanging.result(timeout=30)
    simulator.faults.clear()

    def reconciled() -> bool:
        run = subprocess.run(
            [str(BASE), "reconcile", "--after", "0.5", "--pending-after", "0.5"], env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return pending_count(database_url, user_id) == 0

    wait_for(reconciled, 60, "base reconcile to resolve every hold", interval=0.5)
    found = assert_books_balance(database_url, [user_id], INITIAL)
    assert found[user_id].balance == INITIAL - 1  # the submitted one completed, the other refunded
