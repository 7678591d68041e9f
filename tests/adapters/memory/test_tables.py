"""The memory store's tables: whatever the writes, deletes and undos, every index holds
exactly the rows whose key it is, in the order they got it, as rebuilding it would."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from adapters.memory.tables import Table, Undo, undo_all

PKS = st.sampled_from(["a", "b", "c", "d"])
# A row: (colour, size); a key of None leaves the row out of that index.
ROWS = st.tuples(st.sampled_from(["red", "blue", None]), st.sampled_from([1, 2, None]))


def keys(row: tuple[str | None, int | None]) -> tuple[str | None, int | None]:
    return row


class Tables(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.table = Table(keys, "colour", "size")
        self.undo: Undo = []
        self.model: dict[str, tuple[str | None, int | None]] = {}
        self.saved = dict(self.model)

    @rule(pk=PKS, row=ROWS)
    def write(self, pk: str, row: tuple[str | None, int | None]) -> None:
        self.table.write(pk, row, self.undo)
        self.model[pk] = row

    @rule(pk=PKS)
    def delete(self, pk: str) -> None:
        self.table.write(pk, None, self.undo)
        self.model.pop(pk, None)

    @rule()
    def commit(self) -> None:
        self.undo.clear()
        self.saved = dict(self.model)

    @rule()
    def roll_back(self) -> None:
        undo_all(self.undo)
        self.model = dict(self.saved)

    @invariant()
    def rows_are_the_model(self) -> None:
        assert self.table.rows == self.model
        assert all(self.table.get(pk) == row for pk, row in self.model.items())

    @invariant()
    def indexes_hold_exactly_the_rows_with_their_key(self) -> None:
        for position, name in enumerate(("colour", "size")):
            expected: dict[object, set[str]] = {}
            for pk, row in self.model.items():
                if row[position] is not None:
                    expected.setdefault(row[position], set()).add(pk)
            index = self.table.indexes[name]
            assert {key: set(bucket) for key, bucket in index.items()} == expected
            for key, pks in expected.items():
                assert self.table.count(name, key) == len(pks)
                assert sorted(map(repr, self.table.lookup(name, key))) == sorted(repr(self.model[pk]) for pk in pks)


TestTables = Tables.TestCase


def test_an_index_keeps_the_order_the_rows_got_their_key() -> None:
    table, undo = Table(keys, "colour", "size"), []
    table.write("a", ("red", 1), undo)
    table.write("b", ("red", 2), undo)
    table.write("a", ("blue", 1), undo)
    table.write("a", ("red", 1), undo)  # back to red: now after b
    assert list(table.indexes["colour"]["red"]) == ["b", "a"]
    assert table.first("colour", "red") == ("red", 2)
    undo_all(undo)
    assert table.rows == {} and table.indexes == {"colour": {}, "size": {}}
