"""Database failures, translated into the core's errors at the adapter's boundary.

    uniqueness, foreign key or check violated      -> Conflict
    anything else the driver or the pool raises    -> InfrastructureError

Connection loss surfaces in several shapes depending on where it hits: SQLAlchemy's
DBAPIError (wrapping asyncpg/sqlite3 errors), raw asyncpg or OS errors from a connect
attempt, timeouts, or aiosqlite's ValueError on a closed connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc

from base_core.errors import Conflict, InfrastructureError

DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    sqlite3.Error,
    OSError,
    TimeoutError,
)


@contextmanager
def translated(*, closed_connection_errors: bool = True) -> Iterator[None]:
    """Run a database call; let the core's errors through, translate everything else.

    `closed_connection_errors` also catches ValueError, which is how aiosqlite reports a
    connection closed under it; only wrap driver calls with it, never mapping code.
    """
    try:
        yield
    except sa_exc.IntegrityError as error:
        raise Conflict(f"the database refused the change: {_first_line(error.orig)}") from error
    except DRIVER_ERRORS as error:
        raise InfrastructureError(f"database failure: {_describe(error)}") from error
    except ValueError as error:
        if not closed_connection_errors:
            raise
        raise InfrastructureError(f"database connection unusable: {error}") from error


def _describe(error: BaseException) -> str:
    original = getattr(error, "orig", None)
    return f"{type(original or error).__name__}: {_first_line(original or error)}"


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
