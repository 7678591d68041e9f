"""The README's embedding example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def embedding_example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- embedding-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "the README lost its embedding example"
    return match.group(1)


def test_the_embedding_example_runs_a_generation_to_completion():
    code = embedding_example()
    assert len(code.strip().splitlines()) <= 30
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    status, _, balance = done.stdout.strip().partition(" ")
    assert status == "completed"
    assert balance.endswith("] 8")
    assert "https://" in balance


def test_the_readme_starts_with_the_run_and_test_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].startswith("pip install -e . && base demo")
    assert block[1].startswith("pip install -e '.[test]' && python -m pytest")
