"""The entrypoint modules import without side effects and export what they promise."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import entrypoints

MODULES = [entrypoints.__name__] + [
    info.name for info in pkgutil.walk_packages(entrypoints.__path__, entrypoints.__name__ + ".")
]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_exported_name_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        assert hasattr(module, name), f"{module_name}.{name}"
