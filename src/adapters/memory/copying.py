"""Copies of what the store keeps: deep where something could change, shared where nothing can.

`copy.deepcopy` treats every value alike, through its generic reduce protocol; the store
only holds attrs objects, plain containers and immutable scalars, so it can copy those
field by field and share what is immutable (strings, numbers, datetimes, enum members,
frozen objects whose fields are all immutable). Anything else falls back to deepcopy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs

# Grows as enum types are met: their members are shared like strings.
_IMMUTABLE: set[type] = {
    str, int, float, bool, bytes, type(None), datetime, date, time, timedelta, Decimal
}
_copiers: dict[type, Callable[[Any], Any]] = {}


def clone(value: Any) -> Any:
    """A copy of `value` that shares nothing mutable with it."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    copier = _copiers.get(kind)
    if copier is None:
        copier = _copiers[kind] = _copier_for(kind)
    return copier(value)


def _copier_for(kind: type) -> Callable[[Any], Any]:
    if issubclass(kind, Enum):
        _IMMUTABLE.add(kind)
        return _same
    if kind is dict:
        return _clone_dict
    if kind is list:
        return _clone_list
    if kind is tuple:
        return _clone_tuple
    if attrs.has(kind):
        return _attrs_copier(kind)
    return copy.deepcopy


def _same(value: Any) -> Any:
    return value


def _clone_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    for item in value.values():
        if type(item) not in _IMMUTABLE:
            return {key: clone(item) for key, item in value.items()}
    return value.copy()


def _clone_list(value: list[Any]) -> list[Any]:
    for item in value:
        if type(item) not in _IMMUTABLE:
            return [clone(item) for item in value]
    return value.copy()


def _clone_tuple(value: tuple[Any, ...]) -> tuple[Any, ...]:
    items = tuple(clone(item) for item in value)
    return value if all(a is b for a, b in zip(items, value)) else items


def _attrs_copier(kind: type) -> Callable[[Any], Any]:
    """A function written for `kind`: one line per field, no loops, no intermediate lists.

    Every value of an immutable type is shared; anything else goes through `clone`. A frozen
    object none of whose fields needed a copy is returned itself. A class with the plain
    `object.__setattr__` gets its fields stored directly, the cheapest way to fill a slot.
    """
    names = [field.name for field in attrs.fields(kind)]
    frozen = _is_frozen(kind)
    lines = ["def copier(value):"]
    if frozen:
        lines.append("    changed = False")
        for n, name in enumerate(names):
            lines += [
                f"    f{n} = value.{name}",
                f"    if type(f{n}) not in IMMUTABLE:",
                f"        c = clone(f{n})",
                f"        changed = changed or c is not f{n}",
                f"        f{n} = c",
            ]
        lines.append("    if not changed: return value")
        lines.append("    result = new(kind)")
        lines += [f"    setattr_(result, {name!r}, f{n})" for n, name in enumerate(names)]
    else:
        direct = kind.__setattr__ is object.__setattr__  # type: ignore[comparison-overlap]
        lines.append("    result = new(kind)")
        for n, name in enumerate(names):
            lines += [
                f"    f{n} = value.{name}",
                f"    if type(f{n}) not in IMMUTABLE: f{n} = clone(f{n})",
                f"    result.{name} = f{n}" if direct else f"    setattr_(result, {name!r}, f{n})",
            ]
    lines.append("    return result")
    scope: dict[str, Any] = {
        "IMMUTABLE": _IMMUTABLE, "clone": clone, "new": object.__new__,
        "setattr_": object.__setattr__, "kind": kind,
    }
    exec("\n".join(lines), scope)  # noqa: S102 - the source is built above from field names
    copier: Callable[[Any], Any] = scope["copier"]
    return copier


def _is_frozen(kind: type) -> bool:
    props = getattr(kind, "__attrs_props__", None)
    if props is not None:
        return bool(props.is_frozen)
    return getattr(kind.__setattr__, "__name__", "") == "_frozen_setattrs"
