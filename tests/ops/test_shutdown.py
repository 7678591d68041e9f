"""SIGTERM while creates are under way: they finish, the process exits cleanly within its
bound, and no credit hold is left pending by the shutdown."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from ops_helpers import FLUX, TERMINAL, request, wait_for
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.auth import SessionTokens
from adapters.sql import SqlDatabase
from adapters.sql.migrations import upgrade
from base_core.generation import Status
from live_server import BASE, child_env, free_port, wait_until_healthy
from replicate_simulator import Fault, Simulator, SimulatorConfig

pytestmark = pytest.mark.slow

IN_FLIGHT = 6
SESSION_SECRET = secrets.token_urlsafe(48)


def _state(url: str) -> tuple[list, list]:
    """(in-flight generations, pending holds) as the database has them."""

    async def read() -> tuple[list, list]:
        db = SqlDatabase.from_url(url)
        far = datetime.now(UTC) + timedelta(days=365)
        try:
            async with db.unit_of_work() as uow:
                return (
                    await uow.generations.in_flight_updated_before(far, 10_000),
                    await uow.ledger.expired_holds(far, 10_000),
                )
        finally:
            await db.dispose()

    return asyncio.run(read())


def _start(env: dict[str, str], workdir: Path, port: int, log_name: str) -> subprocess.Popen[bytes]:
    log = open(workdir / log_name, "wb")  # noqa: SIM115 - closed with the process below
    process = subprocess.Popen(
        [str(BASE), "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    wait_until_healthy(f"http://127.0.0.1:{port}", process)
    return process


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'base.db'}"
        return
    server = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    name = f"ops_stop_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = server.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_sigterm_during_creates_finishes_them_and_leaves_no_hold_behind(tmp_path: Path, database: str) -> None:
    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.2, processing_delay=0.5))
    sessions = SessionTokens(SESSION_SECRET)
    with simulator.running_in_thread() as running:
        env = child_env(
            BASE_DATABASE_URL=database,
            BASE_REPLICATE_TOKENS="r8_shutdown_token_000000001",
            BASE_REPLICATE_BASE_URL=running.base_url,
            BASE_SESSION_SECRET=SESSION_SECRET,
            BASE_ALLOW_PRIVATE_IMAGE_URLS="true",
            BASE_RECONCILE_AFTER_SECONDS="1",
            BASE_MAX_IN_FLIGHT_PER_USER="50",
            BASE_SHUTDOWN_SECONDS="30",
            BASE_OUTPUT_DIR=str(tmp_path / "outputs"),
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = _start(env, tmp_path, port, "serve-1.log")
        token = sessions.issue(str(uuid.uuid4()))
        assert request("POST", f"{url}/api/generations/create", FLUX, token=token)[0] == 201  # the user exists
        # Every create now waits at "Replicate" while the signal arrives.
        running.faults.add(Fault(operation="create", delay=3.0))
        pool = ThreadPoolExecutor(max_workers=IN_FLIGHT)
        creates = [pool.submit(request, "POST", f"{url}/api/generations/create", FLUX, token=token, timeout=60)
                   for _ in range(IN_FLIGHT)]
        wait_for(lambda: len(_state(database)[1]) >= IN_FLIGHT + 1, 30, "the creates to hold their credits")
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(60)  # the bound: BASE_SHUTDOWN_SECONDS and the background loop's stop
        finally:
            if process.poll() is None:
                process.kill()
        log = (tmp_path / "serve-1.log").read_text()
        assert code == 0, log
        answers = [future.result(timeout=60) for future in creates]
        pool.shutdown()
        # In-flight requests completed: each create was answered, and taken by Replicate.
        assert [status for status, _, _ in answers] == [201] * IN_FLIGHT, answers
        assert all(body["status"] == "processing" and body["prediction_id"] for _, _, body in answers)

        # Nothing half-done: no generation left pending, every open hold is a running prediction's.
        in_flight, holds = _state(database)
        assert not [g for g in in_flight if g.status is Status.PENDING]
        processing = {f"hold:{g.id}" for g in in_flight if g.status is Status.PROCESSING and g.prediction_id}
        assert {h.key for h in holds} <= processing, (holds, in_flight)
        assert "Traceback" not in log and "CancelledError" not in log

        # After a restart the running predictions end and every hold is resolved.
        running.faults.clear()
        process = _start(env, tmp_path, port, "serve-2.log")
        try:
            ids = [body["id"] for _, _, body in answers]

            def finished() -> bool:
                return all(
                    request("GET", f"{url}/api/generations/{gid}", token=token)[2]["status"] in TERMINAL
                    for gid in ids
                )

            wait_for(finished, 60, "the predictions to finish after the restart")
            wait_for(lambda: not _state(database)[1], 30, "every hold to be resolved")
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
