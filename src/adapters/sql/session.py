"""The connection a unit of work's repositories share, with errors translated."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from adapters.sql.errors import translated

# (dialect name, table) -> INSERT ... ON CONFLICT DO NOTHING RETURNING <primary key>, built
# once. Executed with a row as its parameters it names exactly the row's columns, as
# `.values(row)` would, and leaves the others (an autoincrement key) to the database.
_INSERT_NEW: dict[tuple[str, sa.Table], Executable] = {}


def _insert_new_statement(dialect_name: str, table: sa.Table) -> Executable:
    statement = _INSERT_NEW.get((dialect_name, table))
    if statement is None:
        insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
        statement = insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
        _INSERT_NEW[(dialect_name, table)] = statement
    return statement


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
        result = await self.execute(_insert_new_statement(self.dialect_name, table), row)
        return result.first() is not None
