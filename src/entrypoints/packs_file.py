"""The credit packs file named by BASE_CREDIT_PACKS_FILE: JSON or TOML text to a catalogue.

Parsed here, validated by the core (`PackCatalogue.from_data`, every bad path named), read
once at start-up like the models file.
"""

from __future__ import annotations

from pathlib import Path

from base_core.errors import InvalidRegistry
from base_core.packs import PackCatalogue
from entrypoints.models_file import parse_models_text


def read_packs_file(path: Path) -> PackCatalogue:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidRegistry([f"(file): cannot be read: {error}"]) from None
    return PackCatalogue.from_data(parse_models_text(text, toml=path.suffix.lower() == ".toml"))


__all__ = ["read_packs_file"]
