"""What must hold before the service starts, said in one line when it does not.

Settings are checked by `Settings.from_env` (a `SettingsError` names the variable); this
module adds what needs the database: a PostgreSQL schema that is missing or behind stops
`base serve` with "run `base migrate`", and a schema newer than this code (a rollback
of the code over a migrated database) refuses on any database. A SQLite file is still
brought up to date by the service itself, the embedded default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from entrypoints.settings import Settings

if TYPE_CHECKING:
    from adapters.sql import SqlDatabase


class StartupRefused(Exception):
    """The service cannot start; the message says why and what to do, in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def check_schema(db: SqlDatabase, *, migrates_itself: bool) -> None:
    """Refuse a schema this code cannot serve; `migrates_itself` (SQLite) lets a missing or
    older schema through, since the caller migrates it next."""
    state = await db.schema_state()
    if state.is_current or (migrates_itself and state.known):
        return
    problem = state.problem
    assert problem is not None
    raise StartupRefused(f"{problem} (BASE_DATABASE_URL {db!r})")


def check_bindable(bind: str) -> None:
    """BASE_METRICS_BIND can be listened on (checked before the API binds its own port)."""
    import socket

    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as error:
            raise StartupRefused(f"BASE_METRICS_BIND: cannot listen on {bind} ({error.strerror})") from None


async def preflight(settings: Settings) -> None:
    """Everything `base serve` checks before it binds a port: the models file, and the
    database's reachability and schema."""
    from base_core.errors import InfrastructureError
    from entrypoints.bootstrap import load_registry, sqlite_path

    load_registry(settings)
    if settings.metrics_bind is not None:
        check_bindable(settings.metrics_bind)
    if settings.is_memory:
        return
    from adapters.sql import SqlDatabase

    db = SqlDatabase.from_url(settings.database_url)
    try:
        await check_schema(db, migrates_itself=sqlite_path(settings.database_url) is not None)
    except InfrastructureError as error:
        raise StartupRefused(f"the database does not answer ({error.message}): check BASE_DATABASE_URL") from None
    finally:
        await db.dispose()


__all__ = ["StartupRefused", "check_bindable", "check_schema", "preflight"]
