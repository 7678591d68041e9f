"""The simulator's models as Replicate describes them: model, version and Cog's OpenAPI schema."""

from __future__ import annotations

from typing import Any

from replicate_simulator.models import NO_DEFAULT, InputField, ModelSpec

COG_VERSION = "0.9.4"
# Versions of the simulator's models were all "pushed" at one fixed moment.
VERSION_CREATED_AT = "2024-08-01T00:00:00.000000Z"

_URI = {"type": "string", "format": "uri"}
_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "uri": _URI,
    "uri_list": {"type": "array", "items": _URI},
}


def model_json(model: ModelSpec, run_count: int) -> dict[str, object]:
    return {
        "url": f"https://replicate.com/{model.ref}",
        "owner": model.owner,
        "name": model.name,
        "description": model.description or None,
        "visibility": "public",
        "is_official": model.official,
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": run_count,
        "cover_image_url": None,
        "default_example": None,
        "latest_version": version_json(model),
    }


def version_json(model: ModelSpec) -> dict[str, object]:
    return {
        "id": model.version,
        "created_at": VERSION_CREATED_AT,
        "cog_version": COG_VERSION,
        "openapi_schema": openapi_schema(model),
    }


def openapi_schema(model: ModelSpec) -> dict[str, object]:
    """The part of Cog's schema clients read: `components.schemas.Input` and `Output`."""
    enums: dict[str, object] = {}
    schemas: dict[str, object] = {"Input": _input_schema(model, enums), "Output": _output(model)}
    schemas.update(enums)
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {},
        "components": {"schemas": schemas},
    }


def _input_schema(model: ModelSpec, enums: dict[str, object]) -> dict[str, object]:
    properties = {}
    for order, field in enumerate(model.fields):
        properties[field.name] = _property(field, order, enums)
    schema: dict[str, object] = {"type": "object", "title": "Input", "properties": properties}
    required = [f.name for f in model.fields if f.required]
    if required:
        schema["required"] = required
    return schema


def _property(field: InputField, order: int, enums: dict[str, object]) -> dict[str, object]:
    if field.choices:
        # Cog describes a choice as a reference to an enumeration of its own.
        enums[field.name] = {
            "type": "string",
            "title": field.name,
            "enum": list(field.choices),
            "description": "An enumeration.",
        }
        prop: dict[str, object] = {"allOf": [{"$ref": f"#/components/schemas/{field.name}"}]}
    else:
        prop = {**_TYPES[field.kind], "title": field.name.replace("_", " ").title()}
    prop["x-order"] = order
    if field.default is not NO_DEFAULT:
        prop["default"] = field.default
    if field.minimum is not None:
        prop["minimum"] = field.minimum
    if field.maximum is not None:
        prop["maximum"] = field.maximum
    return prop


def _output(model: ModelSpec) -> dict[str, object]:
    if model.output == "list":
        return {"type": "array", "items": _URI, "title": "Output"}
    return {**_URI, "title": "Output"}
