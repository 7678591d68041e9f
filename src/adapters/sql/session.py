"""The connection a unit of work's repositories share, with errors translated."""

from __future__ import annotations

from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from adapters.sql.errors import translated
from base_core.events import EventLog

# A SELECT of whole rows, whatever their columns (SQLAlchemy 2.1's Select is generic over
# the column types, one parameter per column).
RowsSelect: TypeAlias = "sa.Select[*tuple[Any, ...]]"

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


class RowUpdate:
    """`UPDATE <table> SET <every column but id> WHERE id = ... RETURNING id`, built once.

    The parameters are named `b_<column>`: in an UPDATE a bound parameter may not share a
    column's name. With `unique`, the row is written only if no other row holds the new
    value of that column (a violation would poison a PostgreSQL transaction): the caller
    tells "no such row" from "taken" when nothing was written, which is the rare case.
    """

    def __init__(self, table: sa.Table, unique: str | None = None) -> None:
        self._columns = tuple(column.key for column in table.columns if column.key != "id")
        statement = sa.update(table).where(table.c.id == sa.bindparam("b_where_id"))
        if unique is not None:
            other = table.alias("other")
            statement = statement.where(~sa.exists().where(
                other.c[unique] == sa.bindparam(f"b_{unique}"), other.c.id != sa.bindparam("b_where_id")
            ))
        self.statement = statement.values(
            {name: sa.bindparam(f"b_{name}") for name in self._columns}
        ).returning(table.c.id)

    def parameters(self, row: dict[str, Any]) -> dict[str, Any]:
        parameters = {f"b_{name}": row[name] for name in self._columns}
        parameters["b_where_id"] = row["id"]
        return parameters


class Session:
    def __init__(self, dialect_name: str) -> None:
        self.dialect_name = dialect_name
        self.connection: AsyncConnection | None = None
        # The domain events of what the repositories wrote in this unit of work.
        self.events = EventLog()

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

    async def update_row(self, update: RowUpdate, row: dict[str, Any]) -> bool:
        """Write a whole row over the stored one with its id; return whether there was one."""
        result = await self.execute(update.statement, update.parameters(row))
        return result.first() is not None
