"""The models file named by BASE_MODELS_FILE: JSON or TOML text to a model registry.

Reading and parsing the file is the edge's job (the core does no I/O); what the parsed
data must look like, and every message about a bad path in it, is the core's
(`ModelRegistry.from_data`). A file that does not parse is reported the same way, as an
InvalidRegistry, so the composition root has one error to turn into a settings error.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from base_core import ModelRegistry
from base_core.errors import InvalidRegistry


def parse_models_text(text: str, *, toml: bool) -> object:
    """The plain data in a models file's text; raise InvalidRegistry if it does not parse."""
    try:
        return tomllib.loads(text) if toml else json.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidRegistry([f"(file): not valid TOML: {error}"]) from None
    except json.JSONDecodeError as error:
        raise InvalidRegistry([f"(file): not valid JSON: {error}"]) from None


def read_models_file(path: Path) -> ModelRegistry:
    """The registry in `path` (TOML when it ends in .toml, JSON otherwise)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidRegistry([f"(file): cannot be read: {error}"]) from None
    return ModelRegistry.from_data(parse_models_text(text, toml=path.suffix.lower() == ".toml"))


__all__ = ["parse_models_text", "read_models_file"]
