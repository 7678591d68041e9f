"""Immutable values all the way down, so aggregates can be shared without copies.

The aggregates are frozen attrs classes: a change is a new object (`replace`), and a store
may hand the same object to every reader, since nobody can change it. What they carry
from JSON (a generation's settings and Replicate input) is frozen the same way: mappings
become `FrozenDict`, lists become tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


class FrozenDict(dict[str, Any]):
    """A dict that refuses every change, whose values are frozen too. JSON encoders see a
    plain dict."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        dict.__init__(self, *args, **kwargs)
        for key, value in dict.items(self):
            if type(value) not in _SCALAR_TYPES:  # the common values need no call
                frozen = freeze(value)
                if frozen is not value:
                    dict.__setitem__(self, key, frozen)

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a FrozenDict cannot be changed")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda item: item[0])))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (dict(self),))


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None), FrozenDict})
_TEXT_KEYS = frozenset({str})


def freeze(value: Any) -> Any:
    """`value` with every mapping a FrozenDict and every list a tuple; already frozen
    values (the common case on a change) come back as they are."""
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return value
    if kind is dict and _TEXT_KEYS >= set(map(type, value)):
        if _SCALAR_TYPES >= set(map(type, value.values())):
            # A flat JSON object (settings, an input): one C copy, nothing to freeze.
            return frozen_copy(value)
        return FrozenDict(value)
    if isinstance(value, Mapping):
        return FrozenDict({str(key): item for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        items = tuple(freeze(item) for item in value)
        return value if kind is tuple and all(a is b for a, b in zip(items, value)) else items
    return value


def frozen_copy(values: dict[str, Any]) -> FrozenDict:
    """A FrozenDict of `values`, whose keys are text and whose values are frozen already
    (what the registry builds): one C copy, nothing checked."""
    copy = dict.__new__(FrozenDict)
    dict.update(copy, values)
    return copy


def freeze_mapping(value: Mapping[str, Any]) -> FrozenDict:
    frozen = freeze(value)
    if not isinstance(frozen, FrozenDict):
        raise TypeError("a mapping is needed")
    return frozen


def freeze_urls(value: Any) -> tuple[str, ...] | None:
    """A list of URLs as a tuple (None stays None)."""
    if value is None or type(value) is tuple:
        return value
    return tuple(value)


def replace(obj: T, **changes: Any) -> T:
    """A copy of a frozen aggregate with `changes`, the way `attrs.evolve` makes one.

    The aggregates are frozen attrs classes without slots, so the copy is a new dict of
    their `__dict__` and the changes (`{**state, **changes}`, in C: 0.44 µs for a
    generation, against 0.49 µs for `dict.copy` then `update`), given to a new instance: a
    sixth of `attrs.evolve`'s cost, which runs `__init__` and its converters again for
    values that are already checked. Only the aggregates' own transitions call it, with
    values of the fields' types. What an aggregate has recorded of its changes (its
    `recorded` slot, base_core.events) goes with the copy.

    The transitions every generation goes through (accepted, submitted, advanced, its
    hold resolved and its account posted, its token's request counted) skip it: they copy
    `__dict__`, store the changed fields into the copy and `restore` it, which spares the
    keyword dict and its merge (about 2,000 instructions a change, counted with
    bench/instructions.py).
    """
    new = object.__new__(type(obj))
    state = {**obj.__dict__, **changes}
    _set_attribute(new, "__dict__", state)  # past the frozen class's refusing __setattr__
    recorded = getattr(obj, "recorded", None)
    if recorded is not None:
        _set_attribute(new, "recorded", recorded)
    return new


def restore(cls: type[T], state: dict[str, Any]) -> T:
    """A new instance of a frozen aggregate from its whole state (every field, the values
    already of the fields' types), the way `replace` makes a copy: without `__init__` and
    the converters it would run for values that need none. An aggregate made so has no
    record of its events until its maker gives it one (base_core.events.with_recorded)."""
    new = object.__new__(cls)
    _set_attribute(new, "__dict__", state)
    return new


_set_attribute = object.__setattr__


__all__ = ["FrozenDict", "freeze", "freeze_mapping", "freeze_urls", "replace", "restore"]
