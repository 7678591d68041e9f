"""Database failures reach the core as its own errors, with nothing half-done."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql import SqlDatabase
from base_core.errors import InfrastructureError
from base_core.ledger import hold_key_for


async def _start_a_generation(uow, build) -> None:
    """Everything create_generation writes in its accepting unit of work, not committed."""
    account = await uow.ledger.account_for_update("user-1")
    account, hold, entry = account.hold(3, hold_key_for("gen-1"), build.at(1))
    await uow.generations.add(build.generation("gen-1", cost=3))
    await uow.ledger.post(account, entry, hold)


async def _assert_nothing_half_done(db: SqlDatabase) -> None:
    async with db() as uow:
        assert await uow.generations.get("gen-1") is None
        assert await uow.ledger.hold_for_update(hold_key_for("gen-1")) is None
        assert (await uow.ledger.account("user-1")).balance == 10
        assert [e.key for e in await uow.ledger.entries("user-1")] == ["grant:user-1"]


@pytest.mark.postgres
async def test_a_postgres_backend_killed_mid_transaction(sql, tmp_path, build) -> None:
    async with sql.database("postgres", tmp_path) as db:
        await build.user_with_credits(db, "user-1", credits=10)
        with pytest.raises(InfrastructureError):
            async with db() as uow:
                await _start_a_generation(uow, build)
                pid = (await uow.connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
                killer = create_async_engine(sql.require_postgres_url(), poolclass=NullPool)
                async with killer.connect() as other:
                    await other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await killer.dispose()
                await uow.commit()
        await _assert_nothing_half_done(db)  # and the pool recovered


async def test_a_sqlite_connection_closed_mid_transaction(sql, tmp_path, build) -> None:
    async with sql.database("sqlite", tmp_path) as db:
        await build.user_with_credits(db, "user-1", credits=10)
        with pytest.raises(InfrastructureError):
            async with db() as uow:
                await _start_a_generation(uow, build)
                raw = await uow.connection.get_raw_connection()
                await raw.driver_connection.close()
                await uow.ledger.entries("user-1")
        await _assert_nothing_half_done(db)


async def test_an_unreachable_postgres_is_an_infrastructure_error() -> None:
    db = SqlDatabase.from_url("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(InfrastructureError):
            await db.ping()
        with pytest.raises(InfrastructureError):
            async with db() as uow:
                await uow.users.get("user-1")
    finally:
        await db.dispose()


async def test_an_unopenable_sqlite_file_is_an_infrastructure_error(tmp_path) -> None:
    db = SqlDatabase.from_url(f"sqlite+aiosqlite:///{tmp_path}/missing-dir/base.db")
    try:
        with pytest.raises(InfrastructureError):
            await db.ping()
        with pytest.raises(InfrastructureError):
            await db.migrate()
    finally:
        await db.dispose()


async def test_a_database_without_tables_is_an_infrastructure_error(sql, sql_backend, tmp_path) -> None:
    async with sql.database(sql_backend, tmp_path, migrate=False) as db:
        with pytest.raises(InfrastructureError):
            async with db() as uow:
                await uow.users.get("user-1")

