"""Load with money on the line: two `base serve` processes on one PostgreSQL database.

    python tests/load/money_load.py --seconds 60 --users 40

Many users create, poll, list and delete generations against either server while the
Replicate simulator completes, fails, aborts, duplicates and reorders webhooks (which
reach the first server through BASE_PUBLIC_URL; the second learns by polling and
reconciling). Afterwards every generation must be terminal, no request may have had a
5xx, and for every user the ledger sum equals the balance and equals the initial credits
minus the cost of the completed generations. Everything stays on loopback; the database
is created for the run and dropped afterwards. Exit status 0 when every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.auth import SessionTokens
from adapters.sql import SqlDatabase

BASE = Path(sys.executable).with_name("base")
TERMINAL = {"completed", "failed", "canceled"}
BODIES = [
    {"action": "create", "model_id": "flux-schnell", "prompt": "a lighthouse at dusk",
     "settings": {"num_outputs": 1}},
    {"action": "create", "model_id": "flux-schnell", "prompt": "four foxes",
     "settings": {"num_outputs": 4, "aspect_ratio": "1:1"}},
    {"action": "create", "model_id": "flux-schnell", "prompt": "two owls", "settings": {"num_outputs": 2}},
]


@attrs.define
class Stats:
    latencies: list[float] = attrs.field(factory=list)
    statuses: Counter[int] = attrs.field(factory=Counter)
    by_route: Counter[str] = attrs.field(factory=Counter)
    route_latencies: dict[str, list[float]] = attrs.field(factory=dict)
    server_errors: list[str] = attrs.field(factory=list)

    def record(self, route: str, status: int, seconds: float, text: str) -> None:
        self.latencies.append(seconds)
        self.statuses[status] += 1
        self.by_route[route] += 1
        self.route_latencies.setdefault(route, []).append(seconds)
        if status >= 500:
            self.server_errors.append(f"{route} {status} {text[:200]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    """A database of its own on the server of `admin_url`, migrated, dropped afterwards."""
    name = f"base_load_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        db = SqlDatabase.from_url(url)
        await db.migrate()
        await db.dispose()
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@contextlib.contextmanager
def simulator_process(workdir: Path) -> Iterator[str]:
    """The Replicate simulator in a process of its own (faults go through /_sim/)."""
    port = free_port()
    log = workdir / "simulator.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "replicate_simulator", "--host", "127.0.0.1", "--port", str(port),
         "--starting-delay", "0.1", "--processing-delay", "0.3"],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the simulator exited:\n{log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_sim/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def servers(env: dict[str, str], ports: list[int], workdir: Path) -> Iterator[list[str]]:
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    child = {k: v for k, v in os.environ.items() if not k.startswith("BASE_")}
    child.update(env, PYTHONUNBUFFERED="1")
    try:
        for port in ports:
            log = workdir / f"serve-{port}.log"
            process = subprocess.Popen(
                [str(BASE), "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=workdir, env=child, stdout=log.open("w"), stderr=subprocess.STDOUT,
            )
            processes.append((process, log))
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 30
        for url, (process, log) in zip(urls, processes):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{url} exited:\n{log.read_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not become healthy")
                time.sleep(0.1)
        yield urls
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process, _ in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def user_session(
    user_id: str, token: str, urls: list[str], stop_at: float, stats: Stats,
    rng: random.Random, simulator: str, client: httpx.AsyncClient,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    mine: list[str] = []

    async def send(route: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        url = rng.choice(urls) + path
        started = time.perf_counter()
        try:
            response = await client.request(method, url, headers=headers, timeout=30, **kwargs)
        except httpx.HTTPError as error:
            stats.record(route, 599, time.perf_counter() - started, repr(error))
            return None
        stats.record(route, response.status_code, time.perf_counter() - started, response.text)
        return response

    while time.monotonic() < stop_at:
        roll = rng.random()
        if roll < 0.35 or not mine:
            fault = rng.random()
            shape: dict[str, Any] | None = None
            if fault < 0.15:
                shape = {"outcome": "failed", "error": "simulated failure"}
            elif fault < 0.20:
                shape = {"outcome": "aborted"}
            elif fault < 0.40:
                shape = {"webhook": "duplicate"}
            elif fault < 0.50:
                shape = {"webhook": "out_of_order"}
            elif fault < 0.55:
                shape = {"webhook": "lost"}
            if shape is not None:
                # Shapes whichever prediction is created next, this user's or another's.
                await client.post(f"{simulator}/_sim/faults", json={"times": 1, **shape}, timeout=10)
            response = await send("create", "POST", "/api/generations/create", json=rng.choice(BODIES))
            if response is not None and response.status_code == 201:
                mine.append(response.json()["id"])
        elif roll < 0.70:
            await send("read", "GET", f"/api/generations/{rng.choice(mine)}")
        elif roll < 0.90:
            page = rng.randint(1, 3)
            await send("list", "GET", f"/api/generations/list?page={page}&limit={rng.choice([5, 20])}")
        else:
            victim = mine.pop(rng.randrange(len(mine)))
            await send("delete", "DELETE", f"/api/generations/{victim}")
        await asyncio.sleep(rng.uniform(0.0, 0.05))


async def drain(database_url: str, timeout: float) -> int:
    """Wait until no generation is pending or processing; return how many still are."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        deadline = time.monotonic() + timeout
        while True:
            async with engine.connect() as connection:
                running = (await connection.execute(sa.text(
                    "SELECT count(*) FROM generations WHERE status IN ('pending', 'processing')"
                ))).scalar_one()
            if running == 0 or time.monotonic() > deadline:
                return int(running)
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


async def audit(database_url: str, users: list[str], initial: int) -> dict[str, Any]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            states = dict((await connection.execute(sa.text(
                "SELECT status, count(*) FROM generations GROUP BY status"))).all())
            deleted = (await connection.execute(sa.text(
                "SELECT count(*) FROM generations WHERE deleted_at IS NOT NULL"))).scalar_one()
            balances = dict((await connection.execute(sa.text(
                "SELECT user_id, balance FROM credit_accounts"))).all())
            sums = dict((await connection.execute(sa.text(
                "SELECT user_id, sum(amount) FROM ledger_entries GROUP BY user_id"))).all())
            settled = dict((await connection.execute(sa.text(
                "SELECT user_id, sum(cost) FROM generations WHERE status = 'completed' GROUP BY user_id"
            ))).all())
            pending_holds = (await connection.execute(sa.text(
                "SELECT count(*) FROM credit_holds WHERE state = 'pending'"))).scalar_one()
            holds = dict((await connection.execute(sa.text(
                "SELECT state, count(*) FROM credit_holds GROUP BY state"))).all())
    finally:
        await engine.dispose()
    problems = []
    for user in users:
        balance, total = balances.get(user), sums.get(user)
        expected = initial - int(settled.get(user) or 0)
        if balance is None:
            problems.append(f"{user}: no account")
        elif not (balance == total == expected) or balance < 0:
            problems.append(f"{user}: balance {balance}, ledger sum {total}, expected {expected}")
    return {
        "generations_by_state": {k: int(v) for k, v in states.items()},
        "deleted": int(deleted),
        "holds_by_state": {k: int(v) for k, v in holds.items()},
        "pending_holds": int(pending_holds),
        "users_checked": len(users),
        "credits_spent": int(sum(int(v or 0) for v in settled.values())),
        "credit_problems": problems,
    }


async def run(seconds: float, users: int, seed: int, postgres_url: str) -> dict[str, Any]:
    rng = random.Random(seed)
    initial = 60
    session_secret = secrets.token_urlsafe(48)
    sessions = SessionTokens(session_secret)
    ports = [free_port(), free_port()]
    stats = Stats()
    async with fresh_database(postgres_url) as database_url:
        with tempfile.TemporaryDirectory() as tmp, simulator_process(Path(tmp)) as simulator:
            env = {
                "BASE_DATABASE_URL": database_url,
                "BASE_REPLICATE_BASE_URL": simulator,
                "BASE_REPLICATE_TOKENS": "r8_load_token_a_000000001,r8_load_token_b_000000002",
                "BASE_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
                "BASE_SESSION_SECRET": session_secret,
                "BASE_INITIAL_CREDITS": str(initial),
                "BASE_MAX_IN_FLIGHT_PER_USER": "4",
                "BASE_RECONCILE_AFTER_SECONDS": "2",
                "BASE_ALLOW_PRIVATE_IMAGE_URLS": "true",
                "BASE_OUTPUT_DIR": str(Path(tmp) / "outputs"),
            }
            with servers(env, ports, Path(tmp)) as urls:
                user_ids = [str(uuid.uuid4()) for _ in range(users)]
                started = time.monotonic()
                stop_at = started + seconds
                limits = httpx.Limits(max_connections=users * 2, max_keepalive_connections=users * 2)
                async with httpx.AsyncClient(limits=limits) as client:
                    await asyncio.gather(*(
                        user_session(u, sessions.issue(u), urls, stop_at, stats,
                                     random.Random(rng.random()), simulator, client)
                        for u in user_ids
                    ))
                    elapsed = time.monotonic() - started
                    await client.delete(f"{simulator}/_sim/faults")
                    still_running = await drain(database_url, timeout=60)
                    webhooks = (await client.get(f"{simulator}/_sim/webhooks", timeout=30)).json()
                logs = "".join((Path(tmp) / f"serve-{p}.log").read_text() for p in ports)
        figures = await audit(database_url, user_ids, initial)
    requests = sum(stats.statuses.values())
    return {
        "seconds": round(elapsed, 1),
        "users": users,
        "servers": 2,
        "requests": requests,
        "rps": round(requests / elapsed, 1),
        "p50_ms": round(percentile(stats.latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(stats.latencies, 0.99) * 1000, 1),
        "mean_ms": round(statistics.fmean(stats.latencies) * 1000, 1) if stats.latencies else 0.0,
        "status_counts": {str(k): v for k, v in sorted(stats.statuses.items())},
        "requests_by_route": dict(stats.by_route),
        "p50_p99_ms_by_route": {
            route: [round(percentile(values, 0.5) * 1000, 1), round(percentile(values, 0.99) * 1000, 1)]
            for route, values in sorted(stats.route_latencies.items())
        },
        "server_errors": stats.server_errors[:20],
        "webhook_deliveries": len(webhooks),
        "still_running_after_drain": still_running,
        "tracebacks_in_server_logs": logs.count("Traceback"),
        **figures,
    }


def verdict(report: dict[str, Any]) -> list[str]:
    failures = []
    if report["server_errors"]:
        failures.append(f"{len(report['server_errors'])}+ responses were 5xx or failed")
    if report["still_running_after_drain"]:
        failures.append(f"{report['still_running_after_drain']} generations never finished")
    if report["pending_holds"]:
        failures.append(f"{report['pending_holds']} holds still pending")
    if report["credit_problems"]:
        failures.append(f"{len(report['credit_problems'])} users' credits do not add up")
    if report["tracebacks_in_server_logs"]:
        failures.append("the servers logged tracebacks")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=os.environ.get("BASE_TEST_POSTGRES_URL"),
                        help="an existing database on the server to use (default BASE_TEST_POSTGRES_URL)")
    args = parser.parse_args(argv)
    if not args.postgres:
        parser.error("give --postgres or set BASE_TEST_POSTGRES_URL")
    host = httpx.URL(args.postgres.replace("postgresql+asyncpg", "http")).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load test only talks to a PostgreSQL server on loopback")
    report = asyncio.run(run(args.seconds, args.users, args.seed, args.postgres))
    print(json.dumps(report, indent=2))
    failures = verdict(report)
    print("OK" if not failures else "FAILED: " + "; ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
