"""The domain core stays pure: no framework, driver or adapter, no clock or id of its own."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import base_core

CORE_ROOT = Path(base_core.__file__).parent
CORE_FILES = sorted(CORE_ROOT.rglob("*.py"))

# What the core may import besides itself: the standard library, attrs and cattrs.
ALLOWED_THIRD_PARTY = frozenset({"attrs", "attr", "cattrs", "cattr"})


def _is_allowed(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "base_core"


def _is_forbidden(module: str) -> bool:
    return not _is_allowed(module) or module.split(".", 1)[0] == "logging"


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _modules_loaded_by_importing_the_core() -> list[str]:
    script = (
        "import json, pkgutil, importlib, sys\n"
        "import base_core\n"
        "for info in pkgutil.walk_packages(base_core.__path__, 'base_core.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout)


def test_the_core_has_source_files_to_check() -> None:
    assert len(CORE_FILES) > 5


def test_importing_every_core_module_loads_only_the_standard_library_attrs_and_cattrs() -> None:
    loaded = _modules_loaded_by_importing_the_core()
    assert "base_core.studio" in loaded
    # What the interpreter, attrs and cattrs load for themselves is theirs; a third-party
    # top-level package other than those is the core's doing.
    foreign = {m.split(".", 1)[0] for m in loaded} - set(sys.stdlib_module_names)
    assert foreign - ALLOWED_THIRD_PARTY - {"base_core", "__main__", "typing_extensions", "exceptiongroup", "_distutils_hack"} == set()


def test_a_foreign_import_is_caught() -> None:
    assert _is_forbidden("sqlalchemy.orm") and _is_forbidden("adapters.memory") and _is_forbidden("logging")
    assert not _is_forbidden("asyncio") and not _is_forbidden("cattrs.gen")


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE_ROOT)))
def test_core_source_imports_only_the_standard_library_attrs_and_cattrs_and_does_no_logging(path: Path) -> None:
    assert [m for m in _imported_modules(path) if _is_forbidden(m)] == []


def _calls_named(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in names:
            found.append(f"{path.name}:{node.lineno} {ast.unparse(func)}()")
    return found


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE_ROOT)))
def test_core_reads_no_clock_and_makes_no_ids(path: Path) -> None:
    forbidden_calls = {"now", "utcnow", "today", "uuid1", "uuid4", "time", "monotonic"}
    calls = [
        c for c in _calls_named(path, forbidden_calls)
        # `ctx.clock.now()` and `self.clock.now()` ask the injected Clock port; the event
        # loop's own time paces the background loop's rounds, like its timeouts.
        if "clock.now()" not in c and "get_running_loop().time()" not in c
    ]
    assert calls == []
    text = path.read_text(encoding="utf-8")
    assert "datetime.now(" not in text
    assert "uuid4(" not in text
