"""`python -m bench` runs: the entry, the core benchmark and the table, at the smallest size.

No timing is asserted; bench/RESULTS.md is left alone (--no-write).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_bench_entry_runs_with_minimal_sizes():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "core", "--lifecycles", "30", "--no-write"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "| core: lifecycles on the memory adapters |" in done.stdout
