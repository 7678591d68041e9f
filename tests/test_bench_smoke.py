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
        [sys.executable, "-m", "bench", "--only", "core", "--lifecycles", "30", "--no-write",
         "--no-instructions"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "| core: lifecycles on the memory adapters |" in done.stdout


def test_the_core_row_is_judged_by_its_instruction_count_when_there_is_one():
    from bench.core import CoreResult
    from bench.report import table

    slow_machine = CoreResult(1000, 0.125, 0.125)  # 8,000/s
    assert "**missed**" in _core_row(table(slow_machine, [], [], [], None))
    counted = _core_row(table(CoreResult(1000, 0.125, 0.125, instructions=389_698), [], [], [], None))
    assert "389,698 instructions per lifecycle" in counted and counted.endswith("| met |")
    assert "**missed**" in _core_row(table(CoreResult(1000, 0.04, 0.04, instructions=400_001), [], [], [], None))


def _core_row(text: str) -> str:
    [row] = [line for line in text.splitlines() if line.startswith("| core:")]
    return row
