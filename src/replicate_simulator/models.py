"""The models the simulator knows, with Replicate's input schemas, and input validation.

Validation follows what Replicate answers for bad input: a 422 listing every invalid
field. Unknown input keys are ignored, the way Cog ignores them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Literal
from urllib.parse import urlsplit

import attrs

FieldKind = Literal["string", "integer", "number", "boolean", "uri", "uri_list"]
OutputShape = Literal["list", "single"]
Task = Literal["text_to_image", "image_edit", "upscale", "remove_background"]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT = _NoDefault()


@attrs.frozen
class InputField:
    name: str
    kind: FieldKind
    required: bool = False
    default: object = NO_DEFAULT
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@attrs.frozen
class InvalidField:
    type: str
    field: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "field": self.field, "description": self.description}


class InputInvalid(Exception):
    """The input of a prediction breaks its model's schema."""

    def __init__(self, fields: list[InvalidField]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{f.field}: {f.description}" for f in fields))


@attrs.frozen
class ModelSpec:
    owner: str
    name: str
    version: str
    official: bool
    task: Task
    output: OutputShape
    fields: tuple[InputField, ...]
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.name}"

    def validate(self, raw: object) -> dict[str, object]:
        """Return the input with defaults filled in, or raise InputInvalid."""
        if not isinstance(raw, Mapping):
            raise InputInvalid(
                [InvalidField("invalid_type", "input", "input must be an object")]
            )
        resolved: dict[str, object] = {}
        problems: list[InvalidField] = []
        for field in self.fields:
            value = raw.get(field.name)
            if value is None:
                if field.required:
                    problems.append(
                        InvalidField("required", field.name, f"{field.name} is required")
                    )
                elif field.default is not NO_DEFAULT:
                    resolved[field.name] = field.default
                continue
            problem = _check(field, value)
            if problem is not None:
                problems.append(problem)
            else:
                resolved[field.name] = _normalise(field, value)
        if problems:
            raise InputInvalid(problems)
        return resolved


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith("data:"):
        return "," in value
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


_TYPE_CHECKS: dict[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "uri": lambda v: isinstance(v, str),
    "uri_list": lambda v: isinstance(v, list),
}

_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "uri": "string",
    "uri_list": "array",
}


def _check(field: InputField, value: object) -> InvalidField | None:
    if not _TYPE_CHECKS[field.kind](value):
        return InvalidField(
            "invalid_type",
            field.name,
            f"Invalid type. Expected: {_TYPE_NAMES[field.kind]}, given: {_json_type(value)}",
        )
    if field.kind == "uri" and not _is_uri(value):
        return InvalidField(
            "format", field.name, f"{field.name}: Does not match format 'uri'"
        )
    if field.kind == "uri_list":
        assert isinstance(value, list)
        for index, item in enumerate(value):
            if not _is_uri(item):
                return InvalidField(
                    "format",
                    f"{field.name}.{index}",
                    f"{field.name}.{index}: Does not match format 'uri'",
                )
    if field.choices and value not in field.choices:
        listed = ", ".join(f'"{c}"' for c in field.choices)
        return InvalidField(
            "enum", field.name, f"{field.name} must be one of the following: {listed}"
        )
    if field.minimum is not None and value < field.minimum:  # type: ignore[operator]
        return InvalidField(
            "number_gte",
            field.name,
            f"{field.name} must be greater than or equal to {_number(field.minimum)}",
        )
    if field.maximum is not None and value > field.maximum:  # type: ignore[operator]
        return InvalidField(
            "number_lte",
            field.name,
            f"{field.name} must be less than or equal to {_number(field.maximum)}",
        )
    return None


def _normalise(field: InputField, value: object) -> object:
    if field.kind == "integer":
        return int(value)  # type: ignore[call-overload]
    if field.kind == "number":
        return float(value)  # type: ignore[arg-type]
    return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "integer" if _is_integer(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "null"


def _version_of(ref: str) -> str:
    # Official models hide their versions; the simulator gives them a stable one.
    return hashlib.sha256(ref.encode()).hexdigest()


FLUX_ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
NANO_BANANA_ASPECT_RATIOS = (
    "match_input_image", "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
)

FLUX_SCHNELL = ModelSpec(
    owner="black-forest-labs",
    name="flux-schnell",
    version=_version_of("black-forest-labs/flux-schnell"),
    official=True,
    task="text_to_image",
    output="list",
    fields=(
        InputField("prompt", "string", required=True),
        InputField("aspect_ratio", "string", default="1:1", choices=FLUX_ASPECT_RATIOS),
        InputField("num_outputs", "integer", default=1, minimum=1, maximum=4),
        InputField("num_inference_steps", "integer", default=4, minimum=1, maximum=4),
        InputField("seed", "integer"),
        InputField("output_format", "string", default="webp", choices=("webp", "jpg", "png")),
        InputField("output_quality", "integer", default=80, minimum=0, maximum=100),
        InputField("disable_safety_checker", "boolean", default=False),
        InputField("go_fast", "boolean", default=True),
        InputField("megapixels", "string", default="1", choices=("1", "0.25")),
    ),
    description="The fastest image generation model, for local development and personal use",
)

NANO_BANANA = ModelSpec(
    owner="google",
    name="nano-banana",
    version=_version_of("google/nano-banana"),
    official=True,
    task="image_edit",
    output="single",
    fields=(
        InputField("prompt", "string", required=True),
        InputField("image_input", "uri_list"),
        InputField(
            "aspect_ratio", "string", default="match_input_image", choices=NANO_BANANA_ASPECT_RATIOS
        ),
        InputField("output_format", "string", default="jpg", choices=("jpg", "png")),
    ),
    description="Google's image generation and editing model",
)

REAL_ESRGAN = ModelSpec(
    owner="nightmareai",
    name="real-esrgan",
    version="f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa",
    official=False,
    task="upscale",
    output="single",
    fields=(
        InputField("image", "uri", required=True),
        InputField("scale", "number", default=4.0, minimum=0, maximum=10),
        InputField("face_enhance", "boolean", default=False),
    ),
    description="Real-ESRGAN with optional face correction and adjustable upscale",
)

BIREFNET = ModelSpec(
    owner="men1scus",
    name="birefnet",
    version="f74986db0355b58403ed20963af156525e2891ea3c2d499bfbfb2a28cd87c5d7",
    official=False,
    task="remove_background",
    output="single",
    fields=(
        InputField("image", "uri", required=True),
        InputField("resolution", "string", default=""),
    ),
    description="Bilateral reference for high-resolution dichotomous image segmentation",
)

KNOWN_MODELS: tuple[ModelSpec, ...] = (FLUX_SCHNELL, NANO_BANANA, REAL_ESRGAN, BIREFNET)


@attrs.frozen
class Catalog:
    models: tuple[ModelSpec, ...] = KNOWN_MODELS

    def by_ref(self, ref: str) -> ModelSpec | None:
        return next((m for m in self.models if m.ref == ref), None)

    def by_version(self, version: str) -> ModelSpec | None:
        """Find a model by `<64-hex>` or `owner/name:<64-hex>`."""
        ref, _, version_id = version.rpartition(":")
        for model in self.models:
            if model.version == version_id and (not ref or ref == model.ref):
                return model
        return None
