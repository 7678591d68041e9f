"""Migrations: from nothing to head and back on both databases; schema.py matches them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapters.sql import SqlDatabase
from adapters.sql.migrations import current_async, downgrade_async, upgrade_async
from adapters.sql.schema import metadata

# The newest revision; every migration test runs the whole chain up to it.
HEAD = "0008_generation_version"

TABLES = {
    "users", "credit_accounts", "ledger_entries", "credit_holds", "generations",
    "replicate_tokens", "webhook_deliveries", "parked_updates", "uploads", "stored_deletions",
    "purchases",
}

# The two admin queries of seed/API_EXAMPLES.md, verbatim.
TOKEN_STATS_SQL = """
SELECT 
  id,
  is_active,
  request_count,
  error_count,
  last_used_at,
  ROUND(error_count::numeric / NULLIF(request_count, 0) * 100, 2) as error_rate_percent
FROM replicate_tokens
ORDER BY request_count DESC;
"""
TOKEN_TOTALS_SQL = """
SELECT 
  COUNT(*) as total_tokens,
  COUNT(*) FILTER (WHERE is_active = true) as active_tokens,
  SUM(request_count) as total_requests,
  SUM(error_count) as total_errors
FROM replicate_tokens;
"""


async def table_names(db: SqlDatabase) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_upgrade_from_nothing_and_downgrade_to_base(sql, sql_backend, tmp_path) -> None:
    async with sql.database(sql_backend, tmp_path, migrate=False) as db:
        assert await current_async(db.engine) is None
        await upgrade_async(db.engine)
        assert TABLES <= await table_names(db)
        assert await current_async(db.engine) == HEAD
        await downgrade_async(db.engine, "base")
        assert await table_names(db) & TABLES == set()
        assert await current_async(db.engine) is None
        await db.migrate()
        assert TABLES <= await table_names(db)


async def test_migrating_twice_changes_nothing(sql_db) -> None:
    await sql_db.migrate()
    assert await current_async(sql_db.engine) == HEAD


async def test_the_migrated_schema_is_what_the_adapter_declares(sql_db) -> None:
    def differences(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    def index_names(connection: sa.Connection) -> set[str]:
        inspector = sa.inspect(connection)
        return {i["name"] for t in TABLES for i in inspector.get_indexes(t)}

    async with sql_db.engine.connect() as connection:
        diff = await connection.run_sync(differences)
        indexes = await connection.run_sync(index_names)
    # SQLite's reflection cannot read back the DESC columns of an index, so Alembic
    # reports those indexes as removed and added again; compare them by name instead.
    renewed = {d[1].name for d in diff if d[0] == "remove_index"} & {
        d[1].name for d in diff if d[0] == "add_index"
    }
    assert [d for d in diff if d[0] not in ("remove_index", "add_index") or d[1].name not in renewed] == []
    declared = {i.name for t in metadata.tables.values() for i in t.indexes}
    assert declared <= indexes


async def test_the_seed_admin_queries_run_unchanged_on_postgres(sql, tmp_path, build) -> None:
    async with sql.database("postgres", tmp_path) as db:
        async with db() as uow:
            used = build.token("tok-1", "secret-1", request_count=8, error_count=2)
            await uow.tokens.add(used)
            await uow.tokens.add(build.token("tok-2", "secret-2", is_active=False))
            await uow.commit()
        async with db.engine.connect() as connection:
            stats = (await connection.exec_driver_sql(TOKEN_STATS_SQL)).mappings().all()
            totals = (await connection.exec_driver_sql(TOKEN_TOTALS_SQL)).mappings().one()
    assert [(r["id"], r["request_count"], r["error_rate_percent"]) for r in stats] == [
        ("tok-1", 8, 25), ("tok-2", 0, None),
    ]
    assert dict(totals) == {
        "total_tokens": 2, "active_tokens": 1, "total_requests": 8, "total_errors": 2,
    }


async def test_two_processes_migrating_one_database_at_once(sql, sql_backend, tmp_path) -> None:
    """What happens when two servers start together on an empty database."""
    if sql_backend == "sqlite":
        url, schema = sql.sqlite_url(tmp_path / "fresh.db"), None
        await _migrate_in_two_processes(url, schema)
        db = SqlDatabase.from_url(url)
        try:
            assert TABLES <= await table_names(db)
        finally:
            await db.dispose()
        return
    url = sql.require_postgres_url()
    async with sql.postgres_schema(url) as schema:
        await _migrate_in_two_processes(url, schema)
        db = SqlDatabase.from_url(url, schema=schema)
        try:
            assert TABLES <= await table_names(db)
            assert await current_async(db.engine) == HEAD
        finally:
            await db.dispose()


async def _migrate_in_two_processes(url: str, schema: str | None) -> None:
    script = (
        "import sys; from adapters.sql.migrations import upgrade; "
        "upgrade(sys.argv[1], schema=sys.argv[2] or None)"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, schema or "",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [await p.communicate() for p in processes]
    for process, (_, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err.decode()


def test_the_migrations_ship_inside_the_package() -> None:
    from adapters.sql.migrations import SCRIPT_LOCATION

    assert (SCRIPT_LOCATION / "env.py").is_file()
    assert (SCRIPT_LOCATION / "script.py.mako").is_file()
    assert any(Path(SCRIPT_LOCATION / "versions").glob("0001_*.py"))


async def test_parked_updates_are_rewritten_to_the_cores_triggers_and_back(sql, sql_backend, tmp_path) -> None:
    """Updates parked under 0004 hold Replicate's status; 0005 turns it into the trigger."""
    from datetime import UTC, datetime

    from base_core.generation import Trigger

    async with sql.database(sql_backend, tmp_path, migrate=False) as db:
        await upgrade_async(db.engine, "0004_history_count")
        statuses = ["starting", "processing", "succeeded", "failed", "canceled", "aborted"]
        async with db.engine.begin() as connection:
            for n, status in enumerate(statuses):
                await connection.execute(
                    sa.text("INSERT INTO parked_updates (prediction_id, status, parked_at) VALUES (:p, :s, :t)"),
                    {"p": f"p{n}", "s": status, "t": datetime(2026, 12, 1, tzinfo=UTC)},
                )
        await upgrade_async(db.engine)
        taken = []
        async with db() as uow:
            for n in range(len(statuses)):
                taken += [u.trigger for u in await uow.inbox.take(f"p{n}")]
        assert taken == [Trigger.PROGRESS, Trigger.PROGRESS, Trigger.SUCCEED, Trigger.FAIL,
                         Trigger.CANCEL, Trigger.CANCEL]
        await downgrade_async(db.engine, "0004_history_count")
        async with db.engine.connect() as connection:
            back = (await connection.execute(sa.text("SELECT status FROM parked_updates ORDER BY seq"))).scalars()
            assert list(back) == ["processing", "processing", "succeeded", "failed", "canceled", "canceled"]


async def test_stored_absolute_output_urls_become_keys_and_back(sql, sql_backend, tmp_path, build) -> None:
    """Under 0005 a kept copy was an absolute URL of the host that copied it (`:8000`);
    0006 keeps the key only, so the URL follows the service wherever it is served."""
    import json
    from datetime import UTC, datetime

    key = "g-old/0-" + "a" * 32 + ".webp"
    sources = ["https://replicate.delivery/x/out-0.webp"]
    at = datetime(2026, 12, 1, tzinfo=UTC)
    async with sql.database(sql_backend, tmp_path, migrate=False) as db:
        await upgrade_async(db.engine, "0005_parked_triggers")
        async with db.engine.begin() as connection:
            await connection.execute(
                sa.text("INSERT INTO users (id, created_at) VALUES ('u-old', :t)"), {"t": at}
            )
            for gid, urls in (("g-old", [f"http://127.0.0.1:8000/outputs/{key}"]), ("g-ext", sources)):
                await connection.execute(
                    sa.text(
                        "INSERT INTO generations (id, user_id, action, model_id, model_name, settings, "
                        "replicate_input, cost, status, output_urls, source_urls, outputs_kept_at, "
                        "created_at, updated_at, completed_at) VALUES (:id, 'u-old', 'create', 'flux-schnell', "
                        "'FLUX', '{}', '{}', 1, 'completed', :urls, :sources, :t, :t, :t, :t)"
                    ),
                    {"id": gid, "urls": json.dumps(urls), "sources": json.dumps(sources), "t": at},
                )
        await upgrade_async(db.engine)
        async with db() as uow:
            old = await uow.generations.get("g-old")
            external = await uow.generations.get("g-ext")
        assert old.output_keys == (key,) and old.output_urls == tuple(sources)
        assert external.output_keys is None and external.output_urls == tuple(sources)
        await downgrade_async(db.engine, "0005_parked_triggers")
        async with db.engine.connect() as connection:
            back = (await connection.execute(
                sa.text("SELECT output_urls FROM generations WHERE id = 'g-old'")
            )).scalar()
        assert (json.loads(back) if isinstance(back, str) else back) == [f"/outputs/{key}"]
