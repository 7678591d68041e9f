"""The one converter between the core's objects and plain data (dicts, lists, scalars).

Plain data is what a models file parses to and what a database row holds. The converter
is strict: it never turns "3" into 3, 1 into True or 2.5 into 2, so a wrong type in a file
is reported instead of guessed at. Enums travel by value. A JSON document (`dict[str,
Any]`) comes in as it is (a freshly decoded document belongs to nobody else) and goes out
as a deep copy (plain data never shares a mutable part with a live object).

Each shape is configured next to the class that owns it: the models-file spelling in
`registry.py`; the rows in `adapters.sql.mappers`, which build their functions from this
converter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum, IntEnum, StrEnum
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

import cattrs
from cattrs.errors import IterableValidationNote
from cattrs.fns import identity

converter = cattrs.Converter(detailed_validation=True)

# Values that are plain data already: they go out as they are, and come in only if they
# are of exactly this kind.
SCALARS: tuple[type, ...] = (str, int, float, bool, datetime)

JsonDocument = dict[str, Any]


def _expected(kind: str, value: object) -> TypeError:
    return TypeError(f"expected {kind}, got {type(value).__name__}")


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    # An integer is a number too, and stays one: a limit of 4 is shown as 4, not 4.0.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_datetime(value: object) -> bool:
    return isinstance(value, datetime)


_CHECKS: dict[type, tuple[Callable[[object], bool], str]] = {
    str: (_is_str, "a string"),
    int: (_is_int, "an integer"),
    float: (_is_number, "a number"),
    bool: (_is_bool, "true or false"),
    datetime: (_is_datetime, "a datetime"),
}


def _scalar_structure(kind: type) -> Callable[[object, Any], Any]:
    check, expected = _CHECKS[kind]

    def structure(value: object, _: Any) -> Any:
        if check(value):
            return value
        raise _expected(expected, value)

    return structure


def _structure_enum(value: object, kind: type[Enum]) -> Enum:
    try:
        # The enum's own value-to-member table: a dict lookup, not the enum call machinery.
        return kind._value2member_map_[value]
    except (KeyError, TypeError):
        allowed = ", ".join(str(member.value) for member in kind)
        raise ValueError(f"expected one of {allowed}, got {value!r}") from None


def _enum_value(member: Enum) -> Any:
    return member.value


def is_optional(kind: Any) -> bool:
    """`X | None` for one X."""
    if get_origin(kind) not in (Union, UnionType):
        return False
    members = get_args(kind)
    return len(members) == 2 and NoneType in members


def _inner(optional: Any) -> Any:
    first, second = get_args(optional)
    return second if first is NoneType else first


def _optional_structure(kind: Any) -> Callable[[object, Any], Any]:
    inner = _inner(kind)
    structure_inner = converter.get_structure_hook(inner)

    def structure(value: object, _: Any) -> Any:
        return None if value is None else structure_inner(value, inner)

    return structure


def _optional_unstructure(kind: Any) -> Callable[[Any], Any]:
    inner = _inner(kind)
    if inner in SCALARS:
        # `identity` itself (not an equivalent function): generated code then reads the
        # field inline instead of calling a hook.
        return identity
    unstructure_inner = converter.get_unstructure_hook(inner)

    def unstructure(value: Any) -> Any:
        return None if value is None else unstructure_inner(value)

    return unstructure


def is_sequence(kind: Any) -> bool:
    """`list[X]` or `tuple[X, ...]`."""
    origin, members = get_origin(kind), get_args(kind)
    if origin is list:
        return len(members) == 1
    return origin is tuple and len(members) == 2 and members[1] is Ellipsis


def _sequence_structure(kind: Any) -> Callable[[object, Any], Any]:
    """From a list (never from a string, which is iterable too), item by item."""
    container, item_type = get_origin(kind), get_args(kind)[0]
    if item_type in SCALARS:
        check, expected = _CHECKS[item_type]

        def structure_scalars(value: object, _: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                raise _expected("a list", value)
            for index, item in enumerate(value):
                if not check(item):
                    raise TypeError(f"[{index}]: expected {expected}, got {type(item).__name__}")
            return container(value)

        return structure_scalars

    structure_item = converter.get_structure_hook(item_type)

    def structure(value: object, _: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _expected("a list", value)
        items, errors = [], []
        for index, item in enumerate(value):
            try:
                items.append(structure_item(item, item_type))
            except Exception as error:  # noqa: BLE001 - collected, raised below as a group
                note = IterableValidationNote(f"Structuring {kind} @ index {index}", index, item_type)
                error.__notes__ = [*getattr(error, "__notes__", []), note]
                errors.append(error)
        if errors:
            raise cattrs.IterableValidationError(f"While structuring {kind!r}", errors, kind)
        return container(items)

    return structure


def _structure_document(value: object, _: Any) -> JsonDocument:
    if isinstance(value, dict):
        return value
    raise _expected("an object", value)


def _copy(value: Any) -> Any:
    """A deep copy of JSON (dicts, lists, scalars): deepcopy's work without its memo and
    reduce protocol, which cost more than the copy itself here."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


# Exact classes go through singledispatch, which cattrs consults first and which follows
# the class hierarchy: StrEnum and IntEnum are registered so their members are not taken
# for the str and int they also are.
for _kind in SCALARS:
    converter.register_structure_hook(_kind, _scalar_structure(_kind))
for _base in (Enum, StrEnum, IntEnum):
    converter.register_structure_hook(_base, _structure_enum)
    converter.register_unstructure_hook(_base, _enum_value)
converter.register_structure_hook_factory(is_optional, _optional_structure)
converter.register_unstructure_hook_factory(is_optional, _optional_unstructure)
converter.register_structure_hook_factory(is_sequence, _sequence_structure)
converter.register_structure_hook_func(lambda kind: kind == JsonDocument, _structure_document)
converter.register_unstructure_hook_func(lambda kind: kind == JsonDocument, _copy)


__all__ = ["SCALARS", "JsonDocument", "converter", "is_optional", "is_sequence"]


# Reading a structuring failure: every problem as `path: reason`, the path spelt the way
# the plain data spells it.


ROOT = "(top level)"


def problems(error: Exception, data: object, named: tuple[str, ...] = ()) -> list[str]:
    """Each failure inside `error` (raised structuring `data`) as `path: reason`.

    Keys are the data's own (a renamed attribute shows its key in the data) and list
    positions are in brackets, except in the lists under a key in `named`, whose items
    are named by their string `name`: `models[2].settings.num_outputs.max: expected a
    number, got str`.
    """
    found: list[str] = []
    _collect(error, data, "", found, frozenset(named))
    return found


def _collect(
    error: BaseException, data: object, path: str, found: list[str], named: frozenset[str]
) -> None:
    if isinstance(error, cattrs.ClassValidationError):
        if not isinstance(data, Mapping):
            found.append(f"{path or ROOT}: expected an object, got {type(data).__name__}")
            return
        keys = _data_keys(error.cl)
        with_notes, others = error.group_exceptions()
        for inner, note in with_notes:
            key = keys.get(note.name, note.name)
            _collect(inner, data.get(key), _join(path, key), found, named)
        for inner in others:
            _collect(inner, data, path, found, named)
    elif isinstance(error, cattrs.IterableValidationError):
        items, rest = error.group_exceptions()
        by_name = path.rpartition(".")[2] in named
        for inner, position in items:
            index = position.index
            item = data[index] if isinstance(data, (list, tuple)) and isinstance(index, int) else None
            _collect(inner, item, path + _position(index, item, by_name), found, named)
        for inner in rest:
            _collect(inner, data, path, found, named)
    elif isinstance(error, cattrs.ForbiddenExtraKeysError):
        for key in sorted(error.extra_fields):
            found.append(f"{_join(path, key)}: unknown key")
    elif isinstance(error, KeyError):
        found.append(f"{path}: required")
    else:
        found.append(f"{path or ROOT}: {error}")


def _data_keys(kind: type) -> dict[str, str]:
    """Attribute name to the key the data uses, from the hook's overrides."""
    overrides = getattr(converter.get_structure_hook(kind), "overrides", {})
    return {name: o.rename for name, o in overrides.items() if o.rename is not None}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _position(index: int | str, item: object, by_name: bool) -> str:
    if by_name and isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
        return f".{item['name']}"
    return f"[{index}]"
