"""The store's tables: rows by primary key, the indexes over them, and an undo log.

The rows are the domain's frozen objects themselves: nothing can change them, so a read
hands out the stored object and a write stores the caller's. An index maps a key (what an
SQL index or unique constraint covers) to the primary keys that have it, in insertion
order; a key function that answers None leaves the row out, like a partial index.

A unit of work writes straight into the tables and notes what each write replaced; a
rollback puts those back in reverse order. The store's lock keeps other units of work out
meanwhile, so nobody sees a write that is later undone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

KeyOf = Callable[[Any], Hashable | None]
Undo = list[tuple["Table", Any, Any]]


class Table:
    __slots__ = ("_indexes", "indexes", "rows")

    def __init__(self, **indexes: KeyOf) -> None:
        self.rows: dict[Any, Any] = {}
        self.indexes: dict[str, dict[Hashable, dict[Any, None]]] = {name: {} for name in indexes}
        self._indexes = [(key_of, self.indexes[name]) for name, key_of in indexes.items()]

    def get(self, pk: Any) -> Any:
        return self.rows.get(pk)

    def write(self, pk: Any, value: Any, undo: Undo) -> None:
        """Store `value` (None deletes), noting in `undo` what it replaced."""
        old = self.rows.get(pk)
        undo.append((self, pk, old))
        self.put(pk, old, value)

    def put(self, pk: Any, old: Any, new: Any) -> None:
        if new is None:
            self.rows.pop(pk, None)
        else:
            self.rows[pk] = new
        for key_of, index in self._indexes:
            before = None if old is None else key_of(old)
            after = None if new is None else key_of(new)
            if before == after:
                continue
            if before is not None:
                bucket = index[before]
                del bucket[pk]
                if not bucket:
                    del index[before]
            if after is not None:
                index.setdefault(after, {})[pk] = None

    def lookup(self, index: str, key: Hashable) -> Iterator[Any]:
        """The rows whose `index` key is `key`, in the order they got it."""
        rows = self.rows
        for pk in self.indexes[index].get(key, ()):
            yield rows[pk]

    def first(self, index: str, key: Hashable) -> Any:
        bucket = self.indexes[index].get(key)
        return self.rows[next(iter(bucket))] if bucket else None

    def count(self, index: str, key: Hashable) -> int:
        return len(self.indexes[index].get(key, ()))


def undo_all(undo: Undo) -> None:
    while undo:
        table, pk, old = undo.pop()
        table.put(pk, table.rows.get(pk), old)
