"""Every public name a package promises in `__all__` is really there."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import adapters.memory
import base_core


def _modules_of(package) -> list[str]:
    names = [package.__name__]
    names += [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return names


MODULES = _modules_of(base_core) + _modules_of(adapters.memory)


def test_the_packages_declare_their_public_api() -> None:
    assert base_core.__all__
    assert adapters.memory.__all__


@pytest.mark.parametrize("module_name", MODULES)
def test_every_exported_name_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", [])
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module_name", [base_core.__name__, adapters.memory.__name__])
def test_star_import_gives_every_exported_name(module_name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    module = importlib.import_module(module_name)
    assert set(module.__all__) <= set(namespace)
