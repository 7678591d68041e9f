"""Fresh databases and rows in bulk: raw SQL (executemany on SQLite, COPY on PostgreSQL).

Both services under comparison get identical data: the same users, tokens and
generations with the same ids, loaded before any server starts.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import attrs

from adapters.sql import SqlDatabase

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
# Recent times: a generation that went quiet long ago is due for the poller, which would
# then work in the background of one side of the comparison only.
EPOCH = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BALANCE = 10**12
SETTINGS = {"aspect_ratio": "16:9", "num_outputs": 1}
OUTPUTS = ["https://replicate.delivery/bench/out-0.png"]


def user_id(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-user-{n}"))


def generation_id(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-generation-{n}"))


def prediction_id(n: int) -> str:
    return f"benchpred{n:010d}"


def purchase_id(provider: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-purchase-{provider}-{n}"))


# The built-in "starter" pack: 100 credits for 50 Stars or 1.99 USD.
PACK = {"id": "starter", "credits": 100, "telegram": (50, "XTR"), "stripe": (199, "usd")}
PROVIDERS = ("telegram", "stripe")


@attrs.frozen
class Plan:
    """`users` callers; `history` completed generations, dealt round-robin over the first
    `history_users` users (the rest of them belong to user 0 when `history_users` is 1);
    `waiting` processing generations with a pending hold, for webhooks to complete;
    `purchases` pending purchases of the starter pack per provider, dealt round-robin over
    the users, for payment webhooks to pay."""

    users: int = 50
    history: int = 1000
    history_users: int = 50
    waiting: int = 0
    purchases: int = 0
    tokens: tuple[str, ...] = ("r8_bench_token_0001", "r8_bench_token_0002")


async def fresh_database(kind: str, name: str, workdir: Path) -> str:
    """An empty, migrated database; returns its SQLAlchemy URL."""
    if kind == "sqlite":
        path = workdir / f"{name}.db"
        for leftover in workdir.glob(f"{name}.db*"):
            leftover.unlink()
        url = f"sqlite+aiosqlite:///{path}"
    else:
        admin = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    db = SqlDatabase.from_url(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()
    return url


def _rows(plan: Plan, sqlite: bool) -> dict[str, tuple[list[str], Iterable[tuple[Any, ...]]]]:
    def ts(moment: datetime | None) -> Any:
        if moment is None or not sqlite:
            return moment
        return moment.replace(tzinfo=None).isoformat(sep=" ")

    users = [(user_id(n), ts(EPOCH)) for n in range(plan.users)]
    accounts = [(user_id(n), BALANCE) for n in range(plan.users)]
    tokens = [
        (f"tok-{i}", f"bench {i}", secret, ts(EPOCH), True, 0, 0, 0)
        for i, secret in enumerate(plan.tokens)
    ]
    settings = json.dumps(SETTINGS)
    replicate_input = json.dumps({"prompt": "a lighthouse", **SETTINGS})
    outputs = json.dumps(OUTPUTS)

    def generations() -> Iterator[tuple[Any, ...]]:
        for n in range(plan.history):
            owner = user_id(n % plan.history_users)
            created = ts(EPOCH - timedelta(seconds=plan.history - n))
            yield (generation_id(n), owner, "create", "flux-schnell", "FLUX Schnell", "a lighthouse",
                   settings, replicate_input, 1, "completed", prediction_id(n), "tok-0", outputs,
                   1500, created, created, created)
        for m in range(plan.history, plan.history + plan.waiting):
            owner = user_id(m % plan.users)
            created = ts(EPOCH + timedelta(milliseconds=m - plan.history))
            yield (generation_id(m), owner, "create", "flux-schnell", "FLUX Schnell", "a lighthouse",
                   settings, replicate_input, 1, "processing", prediction_id(m), "tok-0", None,
                   None, created, created, None)

    holds = [
        (f"hold:{generation_id(m)}", user_id(m % plan.users), 1, "pending", ts(EPOCH),
         ts(EPOCH + timedelta(days=3650)))
        for m in range(plan.history, plan.history + plan.waiting)
    ]
    purchases = [
        (purchase_id(provider, n), user_id(n % plan.users), PACK["id"], provider, PACK["credits"],
         PACK[provider][0], PACK[provider][1], "pending", ts(EPOCH), ts(EPOCH),
         f"https://pay.example/{provider}/{n}", 0, 0, 0)
        for provider in PROVIDERS for n in range(plan.purchases)
    ]
    return {
        "users": (["id", "created_at"], users),
        "credit_accounts": (["user_id", "balance"], accounts),
        "replicate_tokens": (
            ["id", "label", "secret", "created_at", "is_active", "request_count", "error_count",
             "consecutive_failures"], tokens),
        "generations": (
            ["id", "user_id", "action", "model_id", "model_name", "prompt", "settings",
             "replicate_input", "cost", "status", "prediction_id", "token_id", "output_urls",
             "processing_time_ms", "created_at", "updated_at", "completed_at"], generations()),
        "credit_holds": (["key", "user_id", "amount", "state", "created_at", "expires_at"], holds),
        "purchases": (
            ["id", "user_id", "pack_id", "provider", "credits", "amount", "currency", "status",
             "created_at", "updated_at", "checkout_url", "credited", "deducted", "shortfall"],
            purchases),
    }


def _sqlite_load(path: str, plan: Plan) -> None:
    connection = sqlite3.connect(path)
    # A bulk load into a fresh file: no journal, and enough cache for the random-order
    # primary key index; the service switches the file back to WAL when it connects.
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA cache_size = -500000")
    try:
        for table, (columns, rows) in _rows(plan, sqlite=True).items():
            marks = ", ".join("?" for _ in columns)
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )
        connection.commit()
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def _postgres_load(url: str, plan: Plan) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for table, (columns, rows) in _rows(plan, sqlite=False).items():
            await connection.copy_records_to_table(table, records=rows, columns=columns)
        # What autovacuum would have done by now: statistics, and the visibility map that
        # lets the history page count the caller's rows from the index alone.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def load(url: str, plan: Plan) -> None:
    if url.startswith("sqlite"):
        await asyncio.to_thread(_sqlite_load, url.split(":///", 1)[1], plan)
    else:
        await _postgres_load(url, plan)
