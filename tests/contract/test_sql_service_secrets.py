"""The service's own secrets: generated once per database, shared by every process."""

from __future__ import annotations

import asyncio
import itertools

from adapters.sql import SqlDatabase


async def test_a_secret_is_generated_once_and_then_read_back(sql_db: SqlDatabase):
    counter = itertools.count()
    first = await sql_db.service_secret("session", lambda: f"secret-{next(counter)}")
    again = await sql_db.service_secret("session", lambda: f"secret-{next(counter)}")
    assert first == again == "secret-0"
    assert await sql_db.service_secret("other", lambda: "another") == "another"


async def test_processes_racing_on_first_start_agree_on_one_secret(sql_db: SqlDatabase):
    other = SqlDatabase.from_url(sql_db.url, schema=sql_db.schema)
    try:
        values = await asyncio.gather(
            *(
                db.service_secret("session", lambda n=n: f"candidate-{n}")
                for n, db in enumerate([sql_db, other] * 4)
            )
        )
    finally:
        await other.dispose()
    assert len(set(values)) == 1
    assert values[0].startswith("candidate-")
