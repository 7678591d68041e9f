"""The store's tables, their indexes, and the staged writes of one transaction.

Every table is a dict from primary key to a private copy of the object. An index maps a
key (what an SQL index or unique constraint would cover) to the primary keys that have it,
in insertion order; a key function that answers None leaves the row out, like a partial
index. Indexes cover committed rows only and change when a transaction's writes are
applied; a transaction's lookups add its own staged rows to what the index says.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

from adapters.memory.copying import clone
from base_core.generation import IN_FLIGHT
from base_core.ledger import HoldState

KeyOf = Callable[[Any], Hashable | None]
_MISSING = object()


def _idempotency(generation: Any) -> Hashable | None:
    key = generation.idempotency_key
    return None if key is None else (generation.user_id, key)


INDEXES: dict[str, dict[str, KeyOf]] = {
    "users": {"telegram": lambda u: u.telegram_id},
    "accounts": {},
    "entries": {"user": lambda e: e.user_id},
    "holds": {"pending": lambda h: True if h.state is HoldState.PENDING else None},
    "generations": {
        "prediction": lambda g: g.prediction_id,
        "idempotency": _idempotency,
        "visible": lambda g: g.user_id if g.deleted_at is None else None,
        "in_flight": lambda g: True if g.status in IN_FLIGHT else None,
        "in_flight_user": lambda g: g.user_id if g.status in IN_FLIGHT else None,
    },
    "tokens": {"secret": lambda t: t.secret},
    "deliveries": {},
    "parked": {"prediction": lambda p: p.prediction_id},
}


class Table:
    def __init__(self, indexes: dict[str, KeyOf]) -> None:
        self.rows: dict[Any, Any] = {}
        self.key_of = indexes
        self.indexes: dict[str, dict[Hashable, dict[Any, None]]] = {name: {} for name in indexes}
        self._index_list = [(key_of, self.indexes[name]) for name, key_of in indexes.items()]
        # primary key -> the row's key in each index, in _index_list's order
        self._keys: dict[Any, tuple[Hashable | None, ...]] = {}

    def write(self, pk: Any, value: Any) -> None:
        """Store `value` (None deletes) and keep the indexes in step."""
        if value is None:
            self.rows.pop(pk, None)
        else:
            self.rows[pk] = value
        if not self._index_list:
            return
        before = self._keys.pop(pk, None)
        after = None if value is None else tuple([key_of(value) for key_of, _ in self._index_list])
        if after is not None:
            self._keys[pk] = after
        for n, (_, index) in enumerate(self._index_list):
            old = None if before is None else before[n]
            new = None if after is None else after[n]
            if old == new:
                continue
            if old is not None:
                bucket = index.get(old)
                if bucket is not None:
                    bucket.pop(pk, None)
                    if not bucket:
                        del index[old]
            if new is not None:
                bucket = index.get(new)
                if bucket is None:
                    index[new] = {pk: None}
                else:
                    bucket[pk] = None


class Tx:
    """The staged writes of one unit of work; reads see them over the committed rows.

    Reads and writes copy: nothing a caller holds is shared with the store. `raw_*`
    methods hand out the stored objects themselves, for filtering before copying.
    """

    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables
        self.staged: dict[str, dict[Any, Any]] = {}

    def raw(self, table: str, pk: Any) -> Any:
        staged = self.staged.get(table)
        if staged is not None:
            value = staged.get(pk, _MISSING)
            if value is not _MISSING:
                return value
        return self.tables[table].rows.get(pk)

    def get(self, table: str, key: Any) -> Any:
        value = self.raw(table, key)
        return None if value is None else clone(value)

    def exists(self, table: str, key: Any) -> bool:
        return self.raw(table, key) is not None

    def put(self, table: str, key: Any, value: Any) -> None:
        self._writes(table)[key] = clone(value)

    def delete(self, table: str, key: Any) -> None:
        self._writes(table)[key] = None

    def _writes(self, table: str) -> dict[Any, Any]:
        writes = self.staged.get(table)
        if writes is None:
            writes = self.staged[table] = {}
        return writes

    def raw_values(self, table: str) -> Iterator[Any]:
        staged = self.staged.get(table, {})
        for pk, value in self.tables[table].rows.items():
            if pk not in staged:
                yield value
        yield from (value for value in staged.values() if value is not None)

    def raw_lookup(self, table: str, index: str, key: Hashable) -> Iterator[tuple[Any, Any]]:
        """(primary key, stored object) of every row whose `index` key is `key`."""
        if key is None:
            return
        committed = self.tables[table]
        staged = self.staged.get(table, {})
        for pk in committed.indexes[index].get(key, ()):
            if pk not in staged:
                yield pk, committed.rows[pk]
        key_of = committed.key_of[index]
        for pk, value in staged.items():
            if value is not None and key_of(value) == key:
                yield pk, value

    def first(self, table: str, index: str, key: Hashable) -> Any:
        for _, value in self.raw_lookup(table, index, key):
            return clone(value)
        return None

    def apply(self) -> None:
        for name, writes in self.staged.items():
            table = self.tables[name]
            for pk, value in writes.items():
                table.write(pk, value)
        self.staged.clear()

    def discard(self) -> None:
        self.staged.clear()


def new_tables() -> dict[str, Table]:
    return {name: Table(indexes) for name, indexes in INDEXES.items()}
