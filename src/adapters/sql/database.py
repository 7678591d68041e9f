"""The SQL database as the core sees it: a factory of units of work, plus its upkeep."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.errors import translated
from adapters.sql.uow import SqlUnitOfWork


class SqlDatabase:
    """`db()` (or `db.unit_of_work()`) opens a fresh unit of work: `db` is a UnitOfWorkFactory."""

    def __init__(self, engine: AsyncEngine, url: URL, schema: str | None = None) -> None:
        self._engine = engine
        self.url = url
        self.schema = schema

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
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
        return SqlUnitOfWork(self._engine)

    __call__ = unit_of_work

    async def migrate(self) -> None:
        """Bring the schema to the newest version; safe to run from many processes at once."""
        from adapters.sql.migrations import upgrade_async

        await upgrade_async(self._engine)

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
