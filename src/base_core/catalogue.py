"""The model registry: what each model is, what it accepts, what it costs.

A create request is checked here against the model's settings schema and turned into the
exact `input` dict Replicate receives. Nothing else in the service interprets settings.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import attrs

from base_core.errors import InvalidRequest, UnknownModel


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

MAX_URL_LENGTH = 2048


@attrs.frozen
class UrlPolicy:
    """Which input image URLs the service passes on to Replicate.

    Only http(s) URLs with a host are accepted; loopback, private, link-local and other
    internal addresses are refused unless `allow_private_hosts` (the offline demo serves
    its images from loopback). Names are not resolved here: the core does no I/O.
    """

    allow_private_hosts: bool = False

    def check(self, field: str, url: object) -> str:
        if not isinstance(url, str) or not url:
            raise InvalidRequest(field, "must be an http(s) URL")
        if len(url) > MAX_URL_LENGTH:
            raise InvalidRequest(field, f"must be at most {MAX_URL_LENGTH} characters")
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
            raise InvalidRequest(field, "must not contain spaces or control characters")
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise InvalidRequest(field, "is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise InvalidRequest(field, "must be an http(s) URL with a host")
        if parts.username or parts.password:
            raise InvalidRequest(field, "must not carry credentials")
        if not self.allow_private_hosts and _is_internal_host(host):
            raise InvalidRequest(field, "must point at a public host")
        return url


def _is_internal_host(host: str) -> bool:
    name = host.rstrip(".").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(
        (".localhost", ".local", ".internal")
    ):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        last_label = name.rsplit(".", 1)[-1]
        if last_label.isdigit() or last_label.startswith("0x"):
            # No public name ends in a number: this is an IPv4 address in a non-canonical
            # spelling resolvers still accept (2130706433, 0x7f000001, 0177.0.0.1, 127.1).
            return True
        return "." not in name  # a bare intranet name
    if isinstance(address, ipaddress.IPv6Address):
        address = _embedded_ipv4(address) or address
    # `is_global` holds for multicast groups (224.0.0.0/4, ff0e::/16): no image lives there.
    return not address.is_global or address.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, 6to4, NAT64), if any."""
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if int(address) >> 32 == 0 or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


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
        kind = self.type
        if kind in (SettingType.TEXT, SettingType.TEXTAREA):
            return self._text(value, field)
        if kind is SettingType.IMAGE:
            return urls.check(field, value)
        if kind is SettingType.BOOLEAN:
            if not isinstance(value, bool):
                raise InvalidRequest(field, "must be true or false")
            return value
        if kind is SettingType.SELECT:
            assert self.options is not None
            if isinstance(value, bool) or value not in self.options:
                allowed = ", ".join(json.dumps(o) for o in self.options)
                raise InvalidRequest(field, f"must be one of {allowed}")
            return value
        if kind is SettingType.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(field, "must be an integer")
            return self._in_range(value, field)
        if kind is SettingType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequest(field, "must be a number")
            if not math.isfinite(value):
                raise InvalidRequest(field, "must be a finite number")
            return self._in_range(value, field)
        raise AssertionError(f"unhandled setting type {kind}")

    def _text(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise InvalidRequest(field, "must be a string")
        if self.required and not value.strip():
            raise InvalidRequest(field, "must not be empty")
        if self.max is not None and len(value) > self.max:
            raise InvalidRequest(field, f"must be at most {int(self.max)} characters")
        if _FORBIDDEN_CONTROL.search(value):
            raise InvalidRequest(field, "must not contain control characters")
        return value

    def _in_range(self, value: float, field: str) -> int | float:
        if self.min is not None and value < self.min:
            raise InvalidRequest(field, f"must be at least {_fmt(self.min)}")
        if self.max is not None and value > self.max:
            raise InvalidRequest(field, f"must be at most {_fmt(self.max)}")
        return value

    def to_public(self) -> dict[str, Any]:
        public: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type.value,
            "required": self.required,
        }
        if self.default is not None:
            public["default"] = self.default
        if self.min is not None:
            public["min"] = self.min
        if self.max is not None:
            public["max"] = self.max
        if self.options is not None:
            public["options"] = list(self.options)
        return public


# C0 controls except newline, carriage return and tab; DEL and the C1 controls.
_FORBIDDEN_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


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
    def owner_and_name(self) -> str:
        return self.replicate_model.split(":", 1)[0]

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

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name,
            "replicateModel": self.replicate_model,
            "action": self.action.value,
            "runs": self.runs,
            "description": self.description,
            "settings": [s.to_public() for s in self.settings],
            "price": self.price,
        }


@attrs.frozen
class GenerationRequest:
    """What a user asks for, before validation."""

    action: str
    model_id: str
    prompt: str | None = None
    input_image_url: str | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PreparedGeneration:
    """A request that passed validation: the model, Replicate's input, the price."""

    model: ModelSpec
    replicate_input: dict[str, Any]
    settings: dict[str, Any]  # the effective settings (given values plus defaults)
    num_outputs: int
    cost: int


@attrs.frozen
class _Field:
    """One setting as `prepare` walks it: worked out once per model, not per request."""

    spec: SettingSpec
    field: str  # how errors name it: "prompt", or "settings.<name>"
    top_level: bool
    replicate_key: str


def _fields_of(model: ModelSpec) -> tuple[dict[str, SettingSpec], tuple[_Field, ...]]:
    by_name = {spec.name: spec for spec in model.settings}
    fields = tuple(
        _Field(
            spec=spec,
            field=spec.name if spec.name in TOP_LEVEL_FIELDS else f"settings.{spec.name}",
            top_level=spec.name in TOP_LEVEL_FIELDS,
            replicate_key=spec.replicate_key,
        )
        for spec in model.settings
    )
    return by_name, fields


class ModelRegistry:
    """The catalogue, keyed by model id, in the order it was given."""

    def __init__(self, models: Iterable[ModelSpec]) -> None:
        self._models: dict[str, ModelSpec] = {}
        self._fields: dict[str, tuple[dict[str, SettingSpec], tuple[_Field, ...]]] = {}
        for model in models:
            if model.id in self._models:
                raise ValueError(f"duplicate model id {model.id!r}")
            _check_model(model)
            self._models[model.id] = model
            self._fields[model.id] = _fields_of(model)

    def __iter__(self):  # type: ignore[no-untyped-def]
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
        if not isinstance(request.settings, Mapping):
            raise InvalidRequest("settings", "must be an object")

        by_name, fields = self._fields[model.id]
        top_level = {FROM_PROMPT: request.prompt, FROM_IMAGE: request.input_image_url}
        for name in request.settings:
            if name in TOP_LEVEL_FIELDS:
                raise InvalidRequest(f"settings.{name}", f"pass {name} as a top-level field")
            if not isinstance(name, str) or name not in by_name:
                raise InvalidRequest(f"settings.{name}", "unknown setting for this model")
        for name, value in top_level.items():
            if value is not None and name not in by_name:
                raise InvalidRequest(name, f"not accepted by model {model.id!r}")

        replicate_input: dict[str, Any] = {}
        effective: dict[str, Any] = {}
        given = request.settings
        for entry in fields:
            spec = entry.spec
            value = top_level[spec.name] if entry.top_level else given.get(spec.name)
            if value is None:
                if spec.required:
                    raise InvalidRequest(entry.field, "is required")
                if spec.default is None:
                    continue
                value = spec.default
            else:
                value = spec.coerce(value, entry.field, urls)
            if not entry.top_level:
                effective[spec.name] = value
            replicate_input[entry.replicate_key] = [value] if spec.as_list else value

        num_outputs = int(effective.get("num_outputs", 1))
        return PreparedGeneration(
            model=model,
            replicate_input=replicate_input,
            settings=effective,
            num_outputs=num_outputs,
            cost=model.price * num_outputs,
        )

    # Loading from text: the caller reads the file (the core does no I/O).

    @classmethod
    def from_json(cls, text: str) -> ModelRegistry:
        return cls.from_data(json.loads(text))

    @classmethod
    def from_toml(cls, text: str) -> ModelRegistry:
        return cls.from_data(tomllib.loads(text))

    @classmethod
    def from_data(cls, data: Any) -> ModelRegistry:
        """Build from `{"models": [...]}` in the public (camelCase) shape plus `price`."""
        if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
            raise ValueError("a model registry file needs a top-level 'models' list")
        return cls(model_from_data(item) for item in data["models"])

    def to_data(self) -> dict[str, Any]:
        return {"models": [model_to_data(m) for m in self._models.values()]}


def _check_model(model: ModelSpec) -> None:
    if model.price < 0:
        raise ValueError(f"{model.id}: price must not be negative")
    names = [s.name for s in model.settings]
    if len(set(names)) != len(names):
        raise ValueError(f"{model.id}: duplicate setting names")
    for spec in model.settings:
        if spec.type is SettingType.SELECT and not spec.options:
            raise ValueError(f"{model.id}.{spec.name}: a select needs options")
        if spec.type is SettingType.IMAGE and spec.name != FROM_IMAGE:
            raise ValueError(f"{model.id}.{spec.name}: the image setting is {FROM_IMAGE!r}")


def model_from_data(item: Mapping[str, Any]) -> ModelSpec:
    try:
        return ModelSpec(
            id=str(item["id"]),
            name=str(item.get("name", item["id"])),
            display_name=str(item["displayName"]),
            replicate_model=str(item["replicateModel"]),
            action=Action(item["action"]),
            runs=str(item.get("runs", "")),
            description=str(item.get("description", "")),
            settings=tuple(_setting_from_data(s) for s in item.get("settings", [])),
            price=int(item["price"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid model entry {item.get('id', '?')!r}: {exc}") from exc


def _setting_from_data(item: Mapping[str, Any]) -> SettingSpec:
    options = item.get("options")
    return SettingSpec(
        name=str(item["name"]),
        label=str(item.get("label", item["name"])),
        type=SettingType(item["type"]),
        required=bool(item.get("required", False)),
        default=item.get("default"),
        min=item.get("min"),
        max=item.get("max"),
        options=tuple(options) if options is not None else None,
        input_key=item.get("inputKey"),
        as_list=bool(item.get("asList", False)),
    )


def model_to_data(model: ModelSpec) -> dict[str, Any]:
    data = model.to_public()
    data["settings"] = []
    for spec in model.settings:
        item = spec.to_public()
        if spec.input_key is not None:
            item["inputKey"] = spec.input_key
        if spec.as_list:
            item["asList"] = True
        data["settings"].append(item)
    return data


__all__ = [
    "Action",
    "GenerationRequest",
    "ModelRegistry",
    "ModelSpec",
    "PreparedGeneration",
    "SettingSpec",
    "SettingType",
    "UrlPolicy",
    "model_from_data",
    "model_to_data",
]
