"""The SQL adapter's public surface and engine settings."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import adapters.sql
from adapters.sql import SqlDatabase, SqlUnitOfWork
from adapters.sql.migrations import downgrade, upgrade


def test_exported_names_exist() -> None:
    for name in adapters.sql.__all__:
        assert hasattr(adapters.sql, name), name


def test_building_a_database_does_no_io(tmp_path) -> None:
    SqlDatabase.from_url("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool_size=3, max_overflow=0)
    SqlDatabase.from_url(f"sqlite+aiosqlite:///{tmp_path}/never.db")
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite:///:memory:", "sqlite:///x.db", "postgresql+psycopg2://x/y", "mysql+aiomysql://x/y"],
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        SqlDatabase.from_url(url)


async def test_the_database_is_a_unit_of_work_factory(sql_db) -> None:
    assert isinstance(sql_db(), SqlUnitOfWork)
    assert isinstance(sql_db.unit_of_work(), SqlUnitOfWork)
    assert sql_db() is not sql_db()
    await sql_db.ping()


async def test_a_unit_of_work_is_entered_once(sql_db) -> None:
    uow = sql_db()
    async with uow:
        pass
    with pytest.raises(RuntimeError):
        async with uow:
            pass


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(sql, tmp_path) -> None:
    async with sql.database("sqlite", tmp_path) as db, db() as uow:
        pragma = uow.connection.exec_driver_sql
        assert (await pragma("PRAGMA journal_mode")).scalar_one() == "wal"
        assert (await pragma("PRAGMA foreign_keys")).scalar_one() == 1
        assert (await pragma("PRAGMA busy_timeout")).scalar_one() >= 30_000


async def test_sqlite_transactions_take_the_write_lock_up_front(sql, tmp_path) -> None:
    """BEGIN IMMEDIATE: while one unit of work is open, a second writer must wait."""
    import sqlite3

    async with sql.database("sqlite", tmp_path) as db:
        async with db() as uow:
            await uow.users.get("anyone")  # a read is enough to hold the write lock
            other = sqlite3.connect(db.url.database, timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()


@pytest.mark.postgres
async def test_postgres_reads_committed(sql, tmp_path) -> None:
    async with sql.database("postgres", tmp_path) as db, db() as uow:
        level = (await uow.connection.exec_driver_sql("SHOW transaction_isolation")).scalar_one()
        assert level == "read committed"


def test_the_sync_helpers_migrate_a_fresh_sqlite_file(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    upgrade(url)
    upgrade(url)  # idempotent
    engine = sa.create_engine(f"sqlite:///{tmp_path}/cli.db")
    with engine.connect() as connection:
        assert "generations" in sa.inspect(connection).get_table_names()
        downgrade(url, "base")
        assert "generations" not in sa.inspect(connection).get_table_names()
    engine.dispose()


async def test_the_sync_helpers_refuse_to_run_inside_an_event_loop(tmp_path) -> None:
    with pytest.raises(RuntimeError):
        upgrade(f"sqlite+aiosqlite:///{tmp_path}/x.db")


def test_json_columns_read_as_the_stdlib_reads_them() -> None:
    import json
    import math

    from adapters.sql.engine import _json_loads

    for text in ['{"a": [1, 2.5, null, true], "b": "\\u00e9"}', "[]", '{"n": 123456789012345678901234567890}']:
        assert _json_loads(text) == json.loads(text)
    # What msgspec refuses and json.dumps can write: the stdlib reads it instead.
    assert math.isinf(_json_loads('{"x": Infinity}')["x"])
    assert math.isnan(_json_loads("[NaN]")[0])


def test_the_pool_keeps_most_of_its_connections() -> None:
    db = SqlDatabase.from_url("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    pool = db.engine.pool
    assert pool.size() == 15 and pool._max_overflow == 5  # type: ignore[attr-defined]
