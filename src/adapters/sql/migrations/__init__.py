"""The schema's history, as Alembic migrations shipped inside the package.

    await db.migrate()                       # what the service does on start
    upgrade("sqlite+aiosqlite:///base.db")   # the same, from synchronous code (the CLI)
    downgrade(url, "base")

Every run happens in one transaction that first takes a lock: BEGIN IMMEDIATE on SQLite,
`pg_advisory_xact_lock` on PostgreSQL (whose DDL is transactional). Two processes that
start at once therefore migrate one after the other, and the second finds nothing to do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import attrs
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.errors import translated

SCRIPT_LOCATION = Path(__file__).resolve().parent
# Any constant shared by every process of the service: "base" + "mig" in ASCII.
ADVISORY_LOCK_KEY = 0x626173656D6967


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run(connection: Connection, operation: str, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
    config = alembic_config(connection)
    if operation == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def _in_transaction(engine: AsyncEngine, fn: Any, *args: Any) -> Any:
    with translated(closed_connection_errors=False):
        async with engine.begin() as connection:
            return await connection.run_sync(fn, *args)


@attrs.frozen
class SchemaState:
    """Where a database's schema stands against the migrations this code ships."""

    current: str | None  # None: never migrated
    head: str
    known: bool  # False: a revision this code does not have (the schema is newer)

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    @property
    def problem(self) -> str | None:
        """What is wrong, in an operator's words, or None when the schema is current."""
        if self.current is None:
            return "the database has no schema: run `base migrate`"
        if not self.known:
            return (
                f"the database schema ({self.current}) is newer than this code ({self.head}): "
                "upgrade the code, or migrate the database back with the newer version"
            )
        if not self.is_current:
            return f"the database schema ({self.current}) is behind ({self.head}): run `base migrate`"
        return None


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def _state(connection: Connection) -> SchemaState:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    current = _current(connection)
    head = scripts.get_current_head()
    assert head is not None, "the package ships no migrations"
    known = current is None or current in {script.revision for script in scripts.walk_revisions()}
    return SchemaState(current=current, head=head, known=known)


async def schema_state_async(engine: AsyncEngine) -> SchemaState:
    """The schema's revision against the newest one shipped (reads only; takes no lock)."""
    with translated(closed_connection_errors=False):
        async with engine.connect() as connection:
            state: SchemaState = await connection.run_sync(_state)
            await connection.rollback()
    return state


async def upgrade_async(engine: AsyncEngine, revision: str = "head") -> None:
    await _in_transaction(engine, _run, "upgrade", revision)


async def downgrade_async(engine: AsyncEngine, revision: str = "base") -> None:
    await _in_transaction(engine, _run, "downgrade", revision)


async def current_async(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    result: str | None = await _in_transaction(engine, _current)
    return result


def _sync(url: str, schema: str | None, operation: str, revision: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("an event loop is running here: use `await SqlDatabase.migrate()`")

    async def run() -> None:
        engine = create_engine(make_url(url), pool_size=1, max_overflow=0, echo=False, schema=schema)
        try:
            if operation == "upgrade":
                await upgrade_async(engine, revision)
            else:
                await downgrade_async(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(run())


def current(url: str, *, schema: str | None = None) -> str | None:
    """The revision the database at `url` is at, None when never migrated (synchronous)."""

    async def run() -> str | None:
        engine = create_engine(make_url(url), pool_size=1, max_overflow=0, echo=False, schema=schema)
        try:
            return await current_async(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def upgrade(url: str, revision: str = "head", *, schema: str | None = None) -> None:
    """Migrate the database at `url` up to `revision` (synchronous, for the CLI)."""
    _sync(url, schema, "upgrade", revision)


def downgrade(url: str, revision: str = "base", *, schema: str | None = None) -> None:
    """Migrate the database at `url` down to `revision` (synchronous, for the CLI)."""
    _sync(url, schema, "downgrade", revision)


__all__ = [
    "SCRIPT_LOCATION",
    "SchemaState",
    "alembic_config",
    "current",
    "current_async",
    "downgrade",
    "downgrade_async",
    "head_revision",
    "schema_state_async",
    "upgrade",
    "upgrade_async",
]
