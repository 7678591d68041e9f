"""The SQL database as the core sees it: a factory of units of work, plus its upkeep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.engine import DEFAULT_MAX_OVERFLOW, DEFAULT_POOL_SIZE, create_engine
from adapters.sql.errors import translated
from adapters.sql.schema import service_secrets
from adapters.sql.uow import BeforeCommit, SqlUnitOfWork
from base_core.errors import InfrastructureError

if TYPE_CHECKING:
    from adapters.sql.migrations import SchemaState


class SqlDatabase:
    """`db()` (or `db.unit_of_work()`) opens a fresh unit of work: `db` is a UnitOfWorkFactory."""

    def __init__(self, engine: AsyncEngine, url: URL, schema: str | None = None) -> None:
        self._engine = engine
        self.url = url
        self.schema = schema
        # Set by the PostgreSQL live feed: its NOTIFY goes out in each committing transaction.
        self.before_commit: BeforeCommit | None = None

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
        echo: bool = False,
        schema: str | None = None,
    ) -> SqlDatabase:
        """`sqlite+aiosqlite:///path.db` or `postgresql+asyncpg://...`; connects lazily.

        `schema` (PostgreSQL only) puts every table in that schema via `search_path`.
        """
        parsed = make_url(url)
        engine = create_engine(
            parsed, pool_size=pool_size, max_overflow=max_overflow, echo=echo, schema=schema
        )
        return cls(engine, parsed, schema)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine, self.before_commit)

    __call__ = unit_of_work

    async def migrate(self) -> None:
        """Bring the schema to the newest version; safe to run from many processes at once."""
        from adapters.sql.migrations import upgrade_async

        await upgrade_async(self._engine)

    async def schema_state(self) -> SchemaState:
        """Where the schema stands against this code's migrations (see `SchemaState.problem`)."""
        from adapters.sql.migrations import schema_state_async

        return await schema_state_async(self._engine)

    async def service_secret(self, name: str, generate: Callable[[], str]) -> str:
        """The secret stored under `name`, created with `generate()` on first use.

        Processes starting together race to insert; the first insert wins and every process
        reads back the same value.
        """
        with translated():
            async with self._engine.begin() as connection:
                row = await _read_secret(connection, name)
                if row is not None:
                    return row
            try:
                async with self._engine.begin() as connection:
                    await connection.execute(
                        sa.insert(service_secrets).values(
                            name=name, value=generate(), created_at=datetime.now(UTC)
                        )
                    )
            except sa.exc.IntegrityError:
                pass  # another process stored it first
            async with self._engine.begin() as connection:
                stored = await _read_secret(connection, name)
        if stored is None:
            raise InfrastructureError(f"the service secret {name!r} could not be stored")
        return stored

    async def ping(self) -> None:
        """Raise InfrastructureError when the database cannot be reached."""
        with translated():
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                await connection.rollback()

    async def dispose(self) -> None:
        with translated():
            await self._engine.dispose()

    def __repr__(self) -> str:
        return f"SqlDatabase({self.url.render_as_string(hide_password=True)!r})"


async def _read_secret(connection: AsyncConnection, name: str) -> str | None:
    result = await connection.execute(
        sa.select(service_secrets.c.value).where(service_secrets.c.name == name)
    )
    return result.scalar_one_or_none()
