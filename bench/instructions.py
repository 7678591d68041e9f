"""Instructions per core lifecycle, counted by valgrind's callgrind: a figure that does
not move with the load on the machine.

`python -m bench.instructions [--lifecycles N]` runs bench/core.py's loop twice under
`valgrind --tool=callgrind`, each time after the same warm-up: once for N lifecycles, once
for N + 1,000. Everything else (interpreter start, imports, the warm-up, building the
studio) is the same in both runs, so the difference divided by 1,000 is what one
lifecycle costs. Hash randomisation is off (PYTHONHASHSEED=0) so two runs of the same
tree give the same figure to a fraction of a percent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

STEP = 1000
WARMUP = 200


def _child(count: int) -> None:
    """The measured program: a warm-up on one studio, then `count` lifecycles on a fresh
    one (what bench/core.py's `measure` does, without the clock)."""
    from bench.core import _lifecycles, _studio

    async def run() -> None:
        studio, inference = await _studio()
        await _lifecycles(studio, inference, WARMUP)
        studio, inference = await _studio()
        await _lifecycles(studio, inference, count)

    asyncio.run(run())


def count_instructions(lifecycles: int, python: str = sys.executable) -> int:
    """Instructions (Ir) of the whole child process for `lifecycles` lifecycles."""
    with tempfile.TemporaryDirectory(prefix="base-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             python, "-m", "bench.instructions", "--child", str(lifecycles)],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        match = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(), re.MULTILINE)
        if match is None:
            raise RuntimeError("callgrind wrote no total")
        return int(match.group(1))


def per_lifecycle(lifecycles: int, python: str = sys.executable) -> tuple[int, int, float]:
    """The totals for `lifecycles` and `lifecycles + 1000`, and instructions per lifecycle."""
    low = count_instructions(lifecycles, python)
    high = count_instructions(lifecycles + STEP, python)
    return low, high, (high - low) / STEP


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--lifecycles", type=int, default=200, help="N: the first run's count")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return 0
    low, high, each = per_lifecycle(args.lifecycles)
    print(f"{args.lifecycles:,} lifecycles: {low:,} instructions; "
          f"{args.lifecycles + STEP:,}: {high:,}; per lifecycle: {each:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
