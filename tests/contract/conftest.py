"""One storage fixture for every contract suite: the same tests on every adapter.

`uow_factory` is a UnitOfWorkFactory on a clean database of the backend named by the
parameter: the in-memory store, a fresh migrated SQLite file under tmp_path, or a fresh
PostgreSQL schema (created, migrated, and dropped afterwards) on the server named by
BASE_TEST_POSTGRES_URL. Without that variable the PostgreSQL cases skip with a reason
(CI always sets it); with it, an unreachable server fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.memory import MemoryStore
from adapters.sql import SqlDatabase
from base_core.generation import Generation
from base_core.ledger import CreditAccount, Hold
from base_core.registry import Action
from base_core.tokens import ReplicateToken
from base_core.users import User

POSTGRES_MISSING = "BASE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against"

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str | None:
    return os.environ.get("BASE_TEST_POSTGRES_URL") or None


def require_postgres_url() -> str:
    url = postgres_url()
    if url is None:
        pytest.skip(POSTGRES_MISSING)
    return url


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@asynccontextmanager
async def postgres_schema(url: str) -> AsyncIterator[str]:
    """A uniquely named, empty schema for one test, dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield schema
    finally:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@asynccontextmanager
async def sql_database(
    backend: str, tmp_path: Path, *, migrate: bool = True, pool_size: int = 5, max_overflow: int = 10
) -> AsyncIterator[SqlDatabase]:
    """A SqlDatabase on a clean database of `backend` ("sqlite" or "postgres")."""
    if backend == "sqlite":
        db = SqlDatabase.from_url(
            sqlite_url(tmp_path / f"base-{uuid.uuid4().hex[:8]}.db"),
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        try:
            if migrate:
                await db.migrate()
            yield db
        finally:
            await db.dispose()
        return
    url = require_postgres_url()
    async with postgres_schema(url) as schema:
        db = SqlDatabase.from_url(url, schema=schema, pool_size=pool_size, max_overflow=max_overflow)
        try:
            if migrate:
                await db.migrate()
            yield db
        finally:
            await db.dispose()


@pytest.fixture(params=BACKENDS)
async def uow_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    backend = request.param
    if backend == "memory":
        yield MemoryStore()
        return
    async with sql_database(backend, tmp_path) as db:
        yield db


@pytest.fixture(params=SQL_BACKENDS)
async def sql_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    """A migrated SqlDatabase on each SQL backend, for the adapter's own tests."""
    async with sql_database(request.param, tmp_path) as db:
        yield db


# Builders shared by the suites (a fixture, since several test folders have a conftest).

T0 = datetime(2025, 11, 24, 10, 0, tzinfo=UTC)


class Builders:
    """Plain domain objects with sensible defaults."""

    t0 = T0

    @staticmethod
    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    @staticmethod
    def user(user_id: str = "user-1", **fields: Any) -> User:
        return User(id=user_id, created_at=fields.pop("created_at", T0), **fields)

    @staticmethod
    def generation(generation_id: str = "gen-1", user_id: str = "user-1", **fields: Any) -> Generation:
        defaults: dict[str, Any] = {
            "action": Action.CREATE,
            "model_id": "flux-schnell",
            "model_name": "flux-schnell",
            "prompt": "a cat",
            "input_image_url": None,
            "settings": {"aspect_ratio": "1:1", "num_outputs": 1},
            "replicate_input": {"prompt": "a cat", "aspect_ratio": "1:1", "num_outputs": 1},
            "cost": 1,
            "created_at": T0,
            "updated_at": T0,
        }
        defaults.update(fields)
        return Generation(id=generation_id, user_id=user_id, **defaults)

    @staticmethod
    def token(token_id: str = "tok-1", secret: str = "r8_secret_1", **fields: Any) -> ReplicateToken:
        return ReplicateToken(
            id=token_id,
            label=fields.pop("label", f"token {token_id}"),
            secret=secret,
            created_at=fields.pop("created_at", T0),
            **fields,
        )

    @classmethod
    async def user_with_credits(cls, uow_factory: Any, user_id: str = "user-1", credits: int = 0) -> None:
        """A user, their account and (when credits > 0) a grant entry, committed."""
        async with uow_factory() as uow:
            await uow.users.add(cls.user(user_id))
            account = CreditAccount(user_id)
            await uow.ledger.add_account(account)
            if credits:
                account, entry = account.grant(credits, f"grant:{user_id}", T0)
                await uow.ledger.post(account, entry)
            await uow.commit()

    @classmethod
    async def pending_hold(
        cls, uow_factory: Any, amount: int, key: str = "hold:g1", user_id: str = "user-1"
    ) -> Hold:
        """`amount` held on the user's account at `at(1)` for five minutes, committed."""
        async with uow_factory() as uow:
            account = await uow.ledger.account_for_update(user_id)
            account, hold, entry = account.hold(amount, key, cls.at(1), ttl=timedelta(minutes=5))
            await uow.ledger.post(account, entry, hold)
            await uow.commit()
        return hold


@pytest.fixture
def build() -> type[Builders]:
    return Builders


class SqlHelpers:
    """For the SQL adapter's own suites (a fixture, like Builders)."""

    database = staticmethod(sql_database)
    postgres_schema = staticmethod(postgres_schema)
    require_postgres_url = staticmethod(require_postgres_url)
    sqlite_url = staticmethod(sqlite_url)


@pytest.fixture
def sql() -> type[SqlHelpers]:
    return SqlHelpers


@pytest.fixture(params=SQL_BACKENDS)
def sql_backend(request: pytest.FixtureRequest) -> str:
    """"sqlite" or "postgres", for tests that build their own databases."""
    return str(request.param)
