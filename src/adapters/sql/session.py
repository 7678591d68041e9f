"""The connection a unit of work's repositories share, with errors translated."""

from __future__ import annotations

import operator
from typing import Any, Protocol, TypeAlias, TypeVar

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


class Identified(Protocol):
    @property
    def id(self) -> str: ...


I = TypeVar("I", bound=Identified)

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
    """`UPDATE <table> SET <columns> WHERE id = ... RETURNING id`, for every column but id,
    or for the ones a change touched (`changed`); each set of columns built once.

    The parameters are named `b_<column>`: in an UPDATE a bound parameter may not share a
    column's name. With `unique`, a statement that sets that column writes the row only if
    no other row holds its new value (a violation would poison a PostgreSQL transaction):
    the caller tells "no such row" from "taken" when nothing was written, the rare case.
    """

    def __init__(self, table: sa.Table, unique: str | None = None) -> None:
        self.table = table
        self._unique = unique
        self.columns = tuple(column.key for column in table.columns if column.key != "id")
        # The aggregate's fields of the same names (the row mappers check that they match).
        self._fields = operator.attrgetter(*self.columns)
        self._statements: dict[tuple[str, ...], Executable] = {}
        self.statement_for(self.columns)  # the whole row's, built at import like the others

    def statement_for(self, columns: tuple[str, ...]) -> Executable:
        statement = self._statements.get(columns)
        if statement is None:
            table = self.table
            update = sa.update(table).where(table.c.id == sa.bindparam("b_where_id"))
            if self._unique is not None and self._unique in columns:
                other = table.alias("other")
                update = update.where(~sa.exists().where(
                    other.c[self._unique] == sa.bindparam(f"b_{self._unique}"),
                    other.c.id != sa.bindparam("b_where_id"),
                ))
            statement = update.values(
                {name: sa.bindparam(f"b_{name}") for name in columns}
            ).returning(table.c.id)
            self._statements[columns] = statement
        return statement

    def changed(self, stored: object, new: object) -> tuple[str, ...]:
        """The columns whose field `new` holds another object than `stored` does.

        The aggregates are frozen and a transition copies the fields it leaves alone, so
        an unchanged field is the very object that was read: `is`, never `==` (to which
        1 and True, or 1 and 1.0, are the same)."""
        return tuple(
            name
            for name, was, now in zip(self.columns, self._fields(stored), self._fields(new))
            if was is not now
        )

    def parameters(self, row: dict[str, Any], columns: tuple[str, ...] | None = None) -> dict[str, Any]:
        parameters = {f"b_{name}": row[name] for name in columns or self.columns}
        parameters["b_where_id"] = row["id"]
        return parameters


class Session:
    def __init__(self, dialect_name: str) -> None:
        self.dialect_name = dialect_name
        self.connection: AsyncConnection | None = None
        # The domain events of what the repositories wrote in this unit of work.
        self.events = EventLog()
        # (table, id) -> the aggregate a row was read as FOR UPDATE (or last written as) in
        # this transaction: what the row holds while the lock is ours.
        self._locked: dict[tuple[sa.Table, Any], object] = {}

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

    def locked(self, update: RowUpdate, aggregate: I) -> I:
        """Note `aggregate` as what its row holds, read FOR UPDATE: a later write of it in
        this transaction sends only the columns that changed."""
        self._locked[(update.table, aggregate.id)] = aggregate
        return aggregate

    def forget(self) -> None:
        """The transaction ended (committed or rolled back): its locks are gone."""
        self._locked.clear()

    async def update_row(self, update: RowUpdate, aggregate: object, row: dict[str, Any]) -> bool:
        """Write `aggregate` (as `row`) over the stored row with its id; return whether
        there was one. Over a row read FOR UPDATE in this transaction, only the changed
        columns are sent, and nothing when none changed; otherwise every column."""
        key = (update.table, row["id"])
        stored = self._locked.get(key)
        columns = update.changed(stored, aggregate) if stored is not None else update.columns
        if columns:
            result = await self.execute(update.statement_for(columns), update.parameters(row, columns))
            if result.first() is None:
                return False
        self._locked[key] = aggregate
        return True
