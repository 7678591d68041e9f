"""The connection a unit of work's repositories share, with errors translated."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from adapters.sql.errors import translated


class Session:
    def __init__(self, dialect_name: str) -> None:
        self.dialect_name = dialect_name
        self.connection: AsyncConnection | None = None

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> CursorResult[Any]:
        if self.connection is None:
            raise RuntimeError("use the unit of work inside `async with`")
        with translated():
            return await self.connection.execute(statement, parameters)

    async def insert_new(self, table: sa.Table, row: dict[str, Any]) -> bool:
        """Insert a row unless it collides with a unique key; return whether it went in.

        ON CONFLICT DO NOTHING instead of catching the violation: on PostgreSQL a failed
        statement poisons the whole transaction, and the callers may want to go on.
        """
        insert = postgresql.insert if self.dialect_name == "postgresql" else sqlite.insert
        statement = insert(table).values(row).on_conflict_do_nothing()
        returning = statement.returning(*table.primary_key.columns)
        result = await self.execute(returning)
        return result.first() is not None
