"""The one converter: strict about scalars, enums by value, JSON documents never shared."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base_core.converter import JsonDocument, converter
from base_core.generation import Status
from base_core.ledger import EntryKind, HoldState
from base_core.registry import Action, SettingType

ENUMS = [Action, SettingType, Status, EntryKind, HoldState]


@pytest.mark.parametrize("kind", ENUMS)
def test_enums_come_in_as_members_and_go_out_as_values(kind: Any) -> None:
    for member in kind:
        back = converter.structure(member.value, kind)
        # A StrEnum member equals its string: check the type, not only the value.
        assert back is member and type(back) is kind
        out = converter.unstructure(member, kind)
        assert out == member.value and type(out) is str


@pytest.mark.parametrize("kind", ENUMS)
def test_an_unknown_enum_value_lists_the_allowed_ones(kind: Any) -> None:
    with pytest.raises(ValueError, match="expected one of " + ", ".join(m.value for m in kind)):
        converter.structure("nonsense", kind)


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("3", int, "an integer"),
        (True, int, "an integer"),
        (2.5, int, "an integer"),
        (3, str, "a string"),
        (1, bool, "true or false"),
        ("1.5", float, "a number"),
        (False, float, "a number"),
        ("2025-01-01", datetime, "a datetime"),
        ("abc", list[str], "a list"),
        ("abc", tuple[Any, ...], "a list"),
        ([1], dict[str, Any], "an object"),
    ],
)
def test_nothing_is_coerced(value: Any, kind: Any, expected: str) -> None:
    with pytest.raises(Exception, match=expected):
        converter.structure(value, kind)


def test_numbers_keep_their_own_type() -> None:
    assert type(converter.structure(4, float)) is int
    assert converter.structure(2.5, float | None) == 2.5
    assert converter.structure(None, float | None) is None


def test_a_bad_item_in_a_list_names_its_position() -> None:
    with pytest.raises(TypeError, match=r"\[1\]: expected a string, got int"):
        converter.structure(["a", 1], list[str])
    assert converter.structure(["a", "b"], tuple[str, ...]) == ("a", "b")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


def _containers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(c for v in value.values() for c in _containers(v))]
    if isinstance(value, list):
        return [value, *(c for v in value for c in _containers(v))]
    return []


@given(st.dictionaries(st.text(), json_values, max_size=4))
def test_a_json_document_goes_out_as_a_deep_copy(document: dict[str, Any]) -> None:
    out = converter.unstructure(document, JsonDocument)
    assert out == document
    inside = {id(c) for c in _containers(document)}
    assert not inside & {id(c) for c in _containers(out)}


def test_datetimes_pass_as_they_are() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    assert converter.structure(moment, datetime) is moment
    assert converter.unstructure(moment) is moment
