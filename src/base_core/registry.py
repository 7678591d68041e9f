"""The model registry: what each model is, what it accepts, what it costs.

A create request is checked here against the model's settings schema and turned into the
exact `input` dict Replicate receives. Nothing else in the service interprets settings.
A registry also comes from plain data (a parsed models file: `{"models": [...]}` in the
public camelCase shape plus `price`), structured by the core's one converter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from types import MethodType
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from base_core.converter import converter, problems
from base_core.errors import InvalidRegistry, InvalidRequest, UnknownModel
from base_core.frozen import FrozenDict, freeze, frozen_copy
from base_core.image_urls import UrlPolicy
from base_core.text import is_text


class Action(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    UPSCALE = "upscale"
    REMOVE_BG = "remove_bg"

    @classmethod
    def parse(cls, value: object, field: str = "action") -> Action:
        if isinstance(value, str):
            member = cls._value2member_map_.get(value)
            if member is not None:
                return member  # type: ignore[return-value]
        allowed = ", ".join(a.value for a in cls)
        raise InvalidRequest(field, f"must be one of {allowed}")


class SettingType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    SELECT = "select"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    IMAGE = "image"


# Where a setting's value comes from in the create request.
FROM_PROMPT = "prompt"
FROM_IMAGE = "input_image_url"
TOP_LEVEL_FIELDS = frozenset({FROM_PROMPT, FROM_IMAGE})


@attrs.frozen
class SettingSpec:
    """One field of a model's settings schema, as the client sees it."""

    name: str
    label: str
    type: SettingType
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    options: tuple[Any, ...] | None = None
    # The key in Replicate's input; `None` means the same as `name`.
    input_key: str | None = None
    # Replicate wants a list of URLs here rather than one URL (nano-banana's image_input).
    as_list: bool = False

    @property
    def replicate_key(self) -> str:
        return self.input_key or self.name

    def coerce(self, value: Any, field: str, urls: UrlPolicy) -> Any:
        """Return the value Replicate gets, or raise InvalidRequest naming `field`."""
        check = _CHECKS.get(self.type)  # one lookup, not a chain of enum attribute reads
        if check is None:
            raise AssertionError(f"unhandled setting type {self.type}")
        return check(self, value, field, urls)

    def _image(self, value: Any, field: str, urls: UrlPolicy) -> Any:
        return urls.check(field, value)

    def _boolean(self, value: Any, field: str, urls: UrlPolicy) -> bool:
        if not isinstance(value, bool):
            raise InvalidRequest(field, "must be true or false")
        return value

    def _select(self, value: Any, field: str, urls: UrlPolicy) -> Any:
        assert self.options is not None
        if isinstance(value, bool) or value not in self.options:
            allowed = ", ".join(json.dumps(o) for o in self.options)
            raise InvalidRequest(field, f"must be one of {allowed}")
        return value if type(value) is str else freeze(value)  # an option may be a list

    def _integer(self, value: Any, field: str, urls: UrlPolicy) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(field, "must be an integer")
        return self._in_range(value, field)

    def _number(self, value: Any, field: str, urls: UrlPolicy) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRequest(field, "must be a number")
        if not math.isfinite(value):
            raise InvalidRequest(field, "must be a finite number")
        return self._in_range(value, field)

    def _text(self, value: Any, field: str, urls: UrlPolicy) -> str:
        if not isinstance(value, str):
            raise InvalidRequest(field, "must be a string")
        if self.required and not value.strip():
            raise InvalidRequest(field, "must not be empty")
        if self.max is not None and len(value) > self.max:
            raise InvalidRequest(field, f"must be at most {int(self.max)} characters")
        if not is_text(value):
            raise InvalidRequest(field, "must not contain control characters")
        return value

    def _in_range(self, value: float, field: str) -> int | float:
        if self.min is not None and value < self.min:
            raise InvalidRequest(field, f"must be at least {_fmt(self.min)}")
        if self.max is not None and value > self.max:
            raise InvalidRequest(field, f"must be at most {_fmt(self.max)}")
        return value


_CHECKS: dict[SettingType, Callable[[SettingSpec, Any, str, UrlPolicy], Any]] = {
    SettingType.TEXT: SettingSpec._text,
    SettingType.TEXTAREA: SettingSpec._text,
    SettingType.IMAGE: SettingSpec._image,
    SettingType.BOOLEAN: SettingSpec._boolean,
    SettingType.SELECT: SettingSpec._select,
    SettingType.INTEGER: SettingSpec._integer,
    SettingType.NUMBER: SettingSpec._number,
}


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


@attrs.frozen
class ModelSpec:
    id: str
    name: str
    display_name: str
    replicate_model: str
    action: Action
    runs: str
    description: str
    settings: tuple[SettingSpec, ...]
    price: int  # credits per output

    @property
    def version(self) -> str | None:
        """The pinned version id, or None for an official model run through its model route."""
        _, _, version = self.replicate_model.partition(":")
        return version or None

    def setting(self, name: str) -> SettingSpec | None:
        for spec in self.settings:
            if spec.name == name:
                return spec
        return None


@attrs.frozen
class GenerationRequest:
    """What a user asks for, before validation."""

    action: str
    model_id: str
    prompt: str | None = None
    input_image_url: str | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(slots=False)  # made per create: a dict-filling __init__ is cheaper
class PreparedGeneration:
    """A request that passed validation: the model, Replicate's input, the price.

    Its values are frozen as a generation stores them (a setting Replicate wants in a list
    is a tuple), so a generation takes them without copying."""

    model: ModelSpec
    replicate_input: FrozenDict
    settings: FrozenDict  # the effective settings (given values plus defaults)
    num_outputs: int
    cost: int


Check = Callable[[Any, str, UrlPolicy], Any]


@attrs.frozen(slots=False)
class _Shape:
    """A model's settings as `prepare` walks them, worked out once per model rather than
    per request.

    What a request leaves out costs nothing per request: Replicate's input and the
    effective settings start as copies of `input_defaults` and `setting_defaults` (every
    setting that has a default, in the model's order, frozen; a default Replicate wants in
    a list in a tuple), and only what the request gives is checked and written over them.
    A setting is looked up by name in `settings`: how errors name it ("settings.<name>"),
    Replicate's key for it, whether Replicate wants it in a list, and the check that turns
    a given value into Replicate's (`spec.coerce` without its lookups). The top-level
    fields (prompt, image) are walked in `top`, with whether each is required and its
    default.
    """

    by_name: dict[str, SettingSpec]
    settings: dict[str, tuple[str, str, bool, Check]]
    required: tuple[str, ...]  # settings (not top-level fields) a request must give
    top: tuple[tuple[str, str, bool, bool, Any, Check], ...]
    input_defaults: dict[str, Any]
    setting_defaults: dict[str, Any]


def _shape_of(model: ModelSpec) -> _Shape:
    def check(spec: SettingSpec) -> Check:
        return MethodType(_CHECKS[spec.type], spec)

    settings = [spec for spec in model.settings if spec.name not in TOP_LEVEL_FIELDS]
    with_default = [spec for spec in settings if spec.default is not None]
    return _Shape(
        by_name={spec.name: spec for spec in model.settings},
        settings={
            spec.name: (f"settings.{spec.name}", spec.replicate_key, spec.as_list, check(spec))
            for spec in settings
        },
        required=tuple(spec.name for spec in settings if spec.required),
        top=tuple(
            (spec.name, spec.replicate_key, spec.as_list, spec.required, freeze(spec.default), check(spec))
            for spec in model.settings
            if spec.name in TOP_LEVEL_FIELDS
        ),
        input_defaults={
            s.replicate_key: (freeze(s.default),) if s.as_list else freeze(s.default)
            for s in with_default
        },
        setting_defaults={spec.name: freeze(spec.default) for spec in with_default},
    )


class ModelRegistry:
    """The catalogue, keyed by model id, in the order it was given."""

    def __init__(self, models: Iterable[ModelSpec]) -> None:
        """Raise InvalidRegistry naming every model that breaks a rule (`models[i]...`)."""
        self._models: dict[str, ModelSpec] = {}
        self._shapes: dict[str, _Shape] = {}
        found: list[str] = []
        for index, model in enumerate(models):
            found += _problems_of(model, f"models[{index}]")
            if model.id in self._models:
                found.append(f"models[{index}].id: duplicate model id {model.id!r}")
                continue
            self._models[model.id] = model
            self._shapes[model.id] = _shape_of(model)
        if found:
            raise InvalidRegistry(found)

    @classmethod
    def from_data(cls, data: object) -> ModelRegistry:
        """Build from plain data, `{"models": [...]}`; raise InvalidRegistry naming each
        bad path (`models[2].settings.num_outputs.max: expected a number, got str`)."""
        if not isinstance(data, Mapping):
            raise InvalidRegistry([f"(top level): expected an object, got {type(data).__name__}"])
        try:
            registry_data = converter.structure(data, _RegistryData)
        except cattrs.BaseValidationError as error:
            raise InvalidRegistry(problems(error, data, named=("settings",))) from None
        return cls(registry_data.models)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._models[model_id]
        except (KeyError, TypeError):
            raise UnknownModel(str(model_id)) from None

    def list(self, action: Action | None = None) -> list[ModelSpec]:
        return [m for m in self._models.values() if action is None or m.action is action]

    def prepare(self, request: GenerationRequest, urls: UrlPolicy | None = None) -> PreparedGeneration:
        """Validate a create request and build Replicate's input; raise InvalidRequest."""
        urls = urls or UrlPolicy()
        action = Action.parse(request.action)
        if not isinstance(request.model_id, str) or not request.model_id:
            raise InvalidRequest("model_id", "is required")
        model = self.get(request.model_id)
        if model.action is not action:
            raise UnknownModel(model.id, f"model {model.id!r} does not do {action.value!r}")
        given = request.settings
        if type(given) is not dict and not isinstance(given, Mapping):  # the ABC's check is slow
            raise InvalidRequest("settings", "must be an object")

        shape = self._shapes[model.id]
        by_name = shape.by_name
        top_level = {FROM_PROMPT: request.prompt, FROM_IMAGE: request.input_image_url}
        for name in given:
            if name in TOP_LEVEL_FIELDS:
                raise InvalidRequest(f"settings.{name}", f"pass {name} as a top-level field")
            if not isinstance(name, str) or name not in by_name:
                raise InvalidRequest(f"settings.{name}", "unknown setting for this model")
        for name, value in top_level.items():
            if value is not None and name not in by_name:
                raise InvalidRequest(name, f"not accepted by model {model.id!r}")

        replicate_input: dict[str, Any] = shape.input_defaults.copy()
        for name, key, as_list, required, default, coerce in shape.top:
            value = top_level[name]
            if value is None:
                if required:
                    raise InvalidRequest(name, "is required")
                if default is None:
                    continue
                value = default
            else:
                value = coerce(value, name, urls)
            replicate_input[key] = (value,) if as_list else value
        effective = shape.setting_defaults.copy()
        settings = shape.settings
        for name, value in given.items():
            if value is None:  # as if left out: the default, if any
                continue
            field, key, as_list, coerce = settings[name]
            value = effective[name] = coerce(value, field, urls)
            replicate_input[key] = (value,) if as_list else value
        for name in shape.required:
            if given.get(name) is None:
                raise InvalidRequest(f"settings.{name}", "is required")

        num_outputs = int(effective.get("num_outputs", 1))
        # By position (model, replicate_input, settings, num_outputs, cost): a class called
        # with keywords builds a dict of them first.
        return PreparedGeneration(
            model, frozen_copy(replicate_input), frozen_copy(effective), num_outputs, model.price * num_outputs
        )


def _problems_of(model: ModelSpec, path: str) -> list[str]:
    """The rules a model breaks that its types alone cannot show."""
    found = []
    if model.price < 0:
        found.append(f"{path}.price: must not be negative")
    names = [s.name for s in model.settings]
    for name in sorted({n for n in names if names.count(n) > 1}):
        found.append(f"{path}.settings.{name}: duplicate setting name")
    # Two settings writing the same key of Replicate's input: which one wins would depend
    # on which the request gives.
    keys: dict[str, str] = {}
    for spec in model.settings:
        first = keys.setdefault(spec.replicate_key, spec.name)
        if first != spec.name:
            taken = f"Replicate's key {spec.replicate_key!r} is taken by setting {first!r}"
            found.append(f"{path}.settings.{spec.name}.inputKey: {taken}")
    for spec in model.settings:
        where = f"{path}.settings.{spec.name}"
        if spec.type is SettingType.SELECT and not spec.options:
            found.append(f"{where}.options: a select needs options")
        if spec.type is SettingType.IMAGE and spec.name != FROM_IMAGE:
            found.append(f"{where}.type: the image setting is {FROM_IMAGE!r}")
    return found


# The plain-data spelling: the public camelCase names, every key known (an unknown one is
# a typo, refused), and the defaults a file may leave out.


@attrs.frozen
class _RegistryData:
    models: tuple[ModelSpec, ...]


_SETTING_KEYS = {"input_key": override(rename="inputKey"), "as_list": override(rename="asList")}
_MODEL_KEYS = {
    "display_name": override(rename="displayName"),
    "replicate_model": override(rename="replicateModel"),
}


def _setting_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"label": data.get("name", "")}


def _model_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": data.get("id", ""), "runs": "", "description": "", "settings": []}


def _file_shape(
    kind: type, keys: dict[str, Any], defaults: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> None:
    """Structure `kind` from its plain-data spelling (unknown keys refused, the keys a
    file may leave out filled from `defaults`), and unstructure it back the same way,
    leaving out what is at its default (TOML has no null)."""
    generated: Any = make_dict_structure_fn(kind, converter, _cattrs_forbid_extra_keys=True, **keys)

    def structure(data: object, _: type) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        return generated({**defaults(data), **data}, kind)

    structure.overrides = generated.overrides  # type: ignore[attr-defined]  # read by `problems`
    converter.register_structure_hook(kind, structure)
    converter.register_unstructure_hook(
        kind, make_dict_unstructure_fn(kind, converter, _cattrs_omit_if_default=True, **keys)
    )


_file_shape(SettingSpec, _SETTING_KEYS, _setting_defaults)
_file_shape(ModelSpec, _MODEL_KEYS, _model_defaults)
converter.register_structure_hook(
    _RegistryData, make_dict_structure_fn(_RegistryData, converter, _cattrs_forbid_extra_keys=True)
)


def builtin_registry() -> ModelRegistry:
    """The four models .base ships with (`seed_models`)."""
    from base_core.seed_models import SEED_MODELS  # the seed is written with this module's types

    return ModelRegistry(SEED_MODELS)


__all__ = [
    "Action",
    "GenerationRequest",
    "ModelRegistry",
    "ModelSpec",
    "PreparedGeneration",
    "SettingSpec",
    "SettingType",
    "builtin_registry",
]
