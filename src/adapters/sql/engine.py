"""Engines for the two databases, configured for many writers.

SQLite: WAL (readers never block the writer), a 30 s busy timeout, foreign keys on, and
every transaction opened with BEGIN IMMEDIATE. A deferred transaction that reads and
then writes fails with SQLITE_BUSY at once when another connection wrote in between; an
immediate one takes the write lock up front and waits its turn instead. pysqlite's own
BEGIN handling must be switched off for that (SQLAlchemy's documented recipe).

PostgreSQL: asyncpg, READ COMMITTED, a bounded pool; the row locks taken by the
`..._for_update` methods and the conditional balance update make it safe with many
processes.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_SECONDS = 30
POSTGRES_COMMAND_TIMEOUT_SECONDS = 60


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def is_postgres(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


# Connections a process keeps open, and how many more it may open for a burst. An async
# server runs many requests at once on one connection pool: a burst beyond the kept
# connections opens new ones and closes them again on return (a TCP and authentication
# handshake each on PostgreSQL), so most of the budget is kept rather than overflow.
DEFAULT_POOL_SIZE = 15
DEFAULT_MAX_OVERFLOW = 5


def _json_loads(text: str) -> Any:
    """JSON columns as the stdlib reads them, decoded by msgspec (several times faster);
    what msgspec refuses (NaN, Infinity, out-of-range numbers) goes to the stdlib."""
    try:
        return _msgspec_decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


_msgspec_decode = msgspec.json.decode


def create_engine(
    url: URL,
    *,
    pool_size: int,
    max_overflow: int,
    echo: bool,
    schema: str | None = None,
) -> AsyncEngine:
    """Build the engine; connects lazily, so this does no I/O."""
    _keep_parameters_out_of_logs()
    if is_sqlite(url):
        return _sqlite_engine(url, pool_size=pool_size, max_overflow=max_overflow, echo=echo)
    if is_postgres(url):
        return _postgres_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, echo=echo, schema=schema
        )
    raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")


class _NoDriverCalls(logging.Filter):
    """Drops DEBUG records that carry data: aiosqlite's calls with their arguments and
    SQLAlchemy's result rows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_DRIVER_FILTER = _NoDriverCalls()


def _keep_parameters_out_of_logs() -> None:
    """Query parameters include Replicate tokens and users' prompts: never log them.

    SQLAlchemy hides them with `hide_parameters` (in its logs and in error messages) but
    logs result rows at DEBUG; aiosqlite logs every call at DEBUG with its arguments.
    Those DEBUG records are dropped.
    """
    for name in ("aiosqlite", "sqlalchemy.engine.Engine"):
        logger = logging.getLogger(name)
        if _DRIVER_FILTER not in logger.filters:
            logger.addFilter(_DRIVER_FILTER)


def _sqlite_engine(url: URL, *, pool_size: int, max_overflow: int, echo: bool) -> AsyncEngine:
    if url.get_driver_name() != "aiosqlite":
        raise ValueError("SQLite needs the async driver: sqlite+aiosqlite:///path.db")
    if url.database in (None, "", ":memory:") or "mode=memory" in str(url):
        # One shared in-memory connection cannot isolate concurrent units of work.
        raise ValueError("an in-memory SQLite database is not supported: use adapters.memory")
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        json_deserializer=_json_loads,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
    )
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
    return engine


WAL_SWITCH_PATIENCE_SECONDS = 10


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch a new database file to WAL. The switch needs the file to itself and SQLite
    answers "database is locked" at once, without the busy handler, while another process
    opens or migrates the same fresh file; wait for it briefly instead of failing."""
    deadline = time.monotonic() + WAL_SWITCH_PATIENCE_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as error:  # the driver's OperationalError, through the async adapter
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)  # only on a fresh file's first connections, under contention


def _sqlite_begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgres_engine(
    url: URL, *, pool_size: int, max_overflow: int, echo: bool, schema: str | None
) -> AsyncEngine:
    if url.get_driver_name() != "asyncpg":
        raise ValueError("PostgreSQL needs the async driver: postgresql+asyncpg://...")
    server_settings = {"application_name": "base"}
    if schema is not None:
        server_settings["search_path"] = schema
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        json_deserializer=_json_loads,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        isolation_level="READ COMMITTED",
        connect_args={
            "server_settings": server_settings,
            "command_timeout": POSTGRES_COMMAND_TIMEOUT_SECONDS,
        },
    )
