"""Real `base serve` processes, the simulator, and the ledger's books, for the durability suite.

Every wait polls a condition against a deadline; nothing sleeps a fixed time hoping the
machine was fast enough.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs

from adapters.auth import SessionTokens
from adapters.sql import SqlDatabase
from base_core.generation import Generation
from base_core.ledger import EntryKind
from live_server import BASE, child_env, free_port  # noqa: F401 - free_port is re-exported for the suite

TERMINAL = ("completed", "failed", "canceled")
FLUX = {"action": "create", "model_id": "flux-schnell", "prompt": "a lighthouse", "settings": {"num_outputs": 1}}
T = TypeVar("T")


def call(
    method: str, url: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"null")
        except ValueError:
            return error.code, raw


def response_headers(method: str, url: str, body: Any, token: str) -> tuple[int, dict[str, str]]:
    """Status and headers only (for Retry-After and friends)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll until `condition()` is truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@attrs.define
class Service:
    """One `base serve` process; `kill()` is SIGKILL, `restart()` starts it again alike."""

    env: dict[str, str]
    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"serve-{self.starts}.log"

    def start(self) -> Service:
        self.starts += 1
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(BASE), "serve", "--port", str(self.port)], cwd=self.workdir, env=self.env,
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"base serve exited: {self.log_path.read_text()}")
            try:
                if call("GET", f"{self.url}/health", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"base serve did not become healthy: {self.log_path.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return 0 if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -9

    def logs(self) -> str:
        return "\n".join(
            (self.workdir / f"serve-{n}.log").read_text(errors="replace")[-4000:]
            for n in range(1, self.starts + 1)
        )


@attrs.frozen
class Client:
    """One user of a running service."""

    service: Service
    token: str

    def create(self, body: dict[str, Any] | None = None, **headers: str) -> tuple[int, Any]:
        return call("POST", f"{self.service.url}/api/generations/create", body or FLUX, self.token, headers)

    def get(self, generation_id: str) -> dict[str, Any]:
        status, generation = call("GET", f"{self.service.url}/api/generations/{generation_id}", token=self.token)
        assert status == 200, generation
        return generation

    def credits(self) -> int:
        status, me = call("GET", f"{self.service.url}/api/me", token=self.token)
        assert status == 200, me
        return int(me["user"]["credits"])

    def wait_terminal(self, generation_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        def done() -> dict[str, dict[str, Any]] | None:
            seen = {gid: self.get(gid) for gid in generation_ids}
            return seen if all(g["status"] in TERMINAL for g in seen.values()) else None

        return wait_for(done, timeout, f"{len(generation_ids)} generations to finish")


def client(service: Service, sessions: SessionTokens, user_id: str) -> Client:
    return Client(service, sessions.issue(user_id))


@attrs.frozen
class Books:
    """What the database says about one user's money."""

    balance: int
    entries: list[tuple[EntryKind, int, str | None]]  # kind, amount, hold key
    pending_holds: int

    @property
    def ledger_sum(self) -> int:
        return sum(amount for _, amount, _ in self.entries)

    def resolutions(self) -> dict[str, list[EntryKind]]:
        """Per hold, the settle/void entries that resolved it."""
        found: dict[str, list[EntryKind]] = {}
        for kind, _, hold_key in self.entries:
            if kind is EntryKind.HOLD and hold_key:
                found.setdefault(hold_key, [])
            elif kind in (EntryKind.SETTLE, EntryKind.VOID) and hold_key:
                found.setdefault(hold_key, []).append(kind)
        return found


def books(database_url: str, user_ids: list[str]) -> dict[str, Books]:
    """Read every user's balance, entries and pending holds straight from the database."""

    async def read() -> dict[str, Books]:
        db = SqlDatabase.from_url(database_url)
        try:
            async with db.unit_of_work() as uow:
                pending = await uow.ledger.expired_holds(datetime.now(UTC) + timedelta(days=365), 100_000)
                result = {}
                for user_id in user_ids:
                    account = await uow.ledger.account(user_id)
                    entries = await uow.ledger.entries(user_id)
                    result[user_id] = Books(
                        balance=account.balance if account else 0,
                        entries=[(e.kind, e.amount, e.hold_key) for e in entries],
                        pending_holds=sum(1 for h in pending if h.user_id == user_id),
                    )
                return result
        finally:
            await db.dispose()

    return asyncio.run(read())


def assert_books_balance(database_url: str, user_ids: list[str], initial: int) -> dict[str, Books]:
    """No pending hold, every hold resolved exactly once, ledger sum == balance, and the
    balance is what the settled generations cost."""
    found = books(database_url, user_ids)
    for user_id, book in found.items():
        assert book.pending_holds == 0, (user_id, book)
        assert book.ledger_sum == book.balance, (user_id, book)
        for hold_key, resolutions in book.resolutions().items():
            assert len(resolutions) == 1, (user_id, hold_key, resolutions)
        charged = -sum(a for k, a, _ in book.entries if k in (EntryKind.HOLD, EntryKind.VOID, EntryKind.SETTLE))
        assert book.balance == initial - charged, (user_id, book)
    return found


def stored_generation(database_url: str, generation_id: str) -> Generation:
    async def read() -> Generation:
        db = SqlDatabase.from_url(database_url)
        try:
            async with db.unit_of_work() as uow:
                found = await uow.generations.get(generation_id)
                assert found is not None
                return found
        finally:
            await db.dispose()

    return asyncio.run(read())


TOKENS = ("r8_durable_token_first_0001", "r8_durable_token_second_002")
INITIAL = 100
RECONCILE_AFTER = "1"
SESSION_SECRET = secrets.token_urlsafe(48)


def service_env(simulator: Any, database_url: str, **extra: str) -> dict[str, str]:
    """`base serve`'s environment against `simulator`, reconciling after one quiet second."""
    return child_env(
        BASE_DATABASE_URL=database_url,
        BASE_REPLICATE_TOKENS=",".join(TOKENS),
        BASE_REPLICATE_BASE_URL=simulator.base_url,
        BASE_SESSION_SECRET=SESSION_SECRET,
        BASE_ALLOW_PRIVATE_IMAGE_URLS="true",
        BASE_RECONCILE_AFTER_SECONDS=RECONCILE_AFTER,
        BASE_INITIAL_CREDITS=str(INITIAL),
        **extra,
    )
