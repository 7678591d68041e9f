"""The store's tables: rows by primary key, the indexes over them, and an undo log.

The rows are the domain's frozen objects themselves: nothing can change them, so a read
hands out the stored object and a write stores the caller's. An index maps a key (what an
SQL index or unique constraint covers) to the primary keys that have it, in insertion
order; a key that is None leaves the row out, like a partial index. A table's keys come
from one function that answers all of a row's keys at once, in the order of the index
names, so a write asks it once per row version rather than once per index.

A unit of work writes straight into the tables and notes what each write replaced; a
rollback puts those back in reverse order. The store's lock keeps other units of work out
meanwhile, so nobody sees a write that is later undone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

KeysOf = Callable[[Any], tuple[Hashable | None, ...]]
Undo = list[tuple["Table", Any, Any]]


class Table:
    __slots__ = ("_indexes", "_keys_of", "_unindexed", "get", "indexes", "rows")

    def __init__(self, keys_of: KeysOf | None = None, *names: str) -> None:
        """`keys_of(row)` answers the row's key in each index of `names`, in that order."""
        if (keys_of is None) != (not names):
            raise ValueError("a key function needs index names, and index names a key function")
        self.rows: dict[Any, Any] = {}
        # The row stored under a primary key, or None: the rows' own `dict.get`, called
        # without a method of ours in between.
        self.get: Callable[[Any], Any] = self.rows.get
        self.indexes: dict[str, dict[Hashable, dict[Any, None]]] = {name: {} for name in names}
        self._indexes = tuple(self.indexes.values())
        self._keys_of = keys_of
        self._unindexed: tuple[Hashable | None, ...] = (None,) * len(names)

    def write(self, pk: Any, new: Any, undo: Undo) -> None:
        """Store `new` (None deletes), noting in `undo` what it replaced."""
        rows = self.rows
        old = rows.get(pk)
        undo.append((self, pk, old))
        if new is None:
            rows.pop(pk, None)
        else:
            rows[pk] = new
        keys_of = self._keys_of
        if keys_of is None:
            return
        if old is None:  # a new row, the common write: nothing to compare, only keys to add
            if new is None:
                return
            before, after = self._unindexed, keys_of(new)
        else:
            before = keys_of(old)
            after = self._unindexed if new is None else keys_of(new)
            if before == after:
                return
        for index, was, now in zip(self._indexes, before, after):
            if was is now:  # the same object, mostly: a copy shares its values
                continue
            if was is not None:
                if was == now:
                    continue
                bucket = index[was]
                del bucket[pk]
                if not bucket:
                    del index[was]
            if now is not None:
                found = index.get(now)
                if found is None:
                    index[now] = {pk: None}
                else:
                    found[pk] = None

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
    undone: Undo = []  # what undoing replaced: nobody needs it
    while undo:
        table, pk, old = undo.pop()
        table.write(pk, old, undone)
