"""Alembic's entry point. The service hands in an open connection (see __init__.py); the
`alembic` command line, with `sqlalchemy.url` set, gets an engine of its own."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection, make_url

from adapters.sql.schema import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite alters tables by copying them; batch mode writes future migrations so.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_with_own_engine(url: str) -> None:
    from adapters.sql.engine import create_engine

    async def run() -> None:
        engine = create_engine(make_url(url), pool_size=1, max_overflow=0, echo=False)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(run_migrations)
        finally:
            await engine.dispose()

    asyncio.run(run())


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")

given = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    run_with_own_engine(context.config.get_main_option("sqlalchemy.url") or "")
