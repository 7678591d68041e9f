"""SQL storage: every repository port on SQLite (the embedded default) or PostgreSQL.

    db = SqlDatabase.from_url("sqlite+aiosqlite:///base.db")
    await db.migrate()
    async with db() as uow: ...
    await db.dispose()

Nothing outside this package imports SQLAlchemy.
"""

from adapters.sql.database import SqlDatabase
from adapters.sql.uow import SqlUnitOfWork

__all__ = ["SqlDatabase", "SqlUnitOfWork"]
