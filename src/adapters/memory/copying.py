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

_IMMUTABLE: frozenset[type] = frozenset(
    {str, int, float, bool, bytes, type(None), datetime, date, time, timedelta, Decimal}
)
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
    return {key: clone(item) for key, item in value.items()}


def _clone_list(value: list[Any]) -> list[Any]:
    return [clone(item) for item in value]


def _clone_tuple(value: tuple[Any, ...]) -> tuple[Any, ...]:
    items = tuple(clone(item) for item in value)
    return value if all(a is b for a, b in zip(items, value)) else items


def _attrs_copier(kind: type) -> Callable[[Any], Any]:
    names = tuple(field.name for field in attrs.fields(kind))
    frozen = _is_frozen(kind)
    new = object.__new__
    setattr_ = object.__setattr__

    def copier(value: Any) -> Any:
        fields = [(name, getattr(value, name)) for name in names]
        copies = [(name, clone(item)) for name, item in fields]
        if frozen and all(a[1] is b[1] for a, b in zip(copies, fields)):
            return value  # nothing in it can change: share it
        result = new(kind)
        for name, item in copies:
            setattr_(result, name, item)
        return result

    return copier


def _is_frozen(kind: type) -> bool:
    props = getattr(kind, "__attrs_props__", None)
    if props is not None:
        return bool(props.is_frozen)
    return getattr(kind.__setattr__, "__name__", "") == "_frozen_setattrs"
