"""`python -m bench --quick --check`: the ratios of this run against the committed table.

The committed bench/RESULTS.md is the last full run. Every row of its table whose ratio is
a percentage (higher is better: .base's rate over the reference's) is looked up by its
name in this run's table; a ratio more than `points` percentage points below the
committed one is a drop. Rows only one of the two tables has are listed, not judged
(a quick run leaves out the sizes only a full run measures). Not a timed test: it is for a
developer to run before stopping, on a machine quiet enough to trust.
"""

from __future__ import annotations

import re

import attrs

MARKER = "<!-- notes below are kept by python -m bench -->"
PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


@attrs.frozen
class Verdict:
    name: str
    committed: float  # percent
    now: float

    @property
    def points(self) -> float:
        return self.now - self.committed


def ratios(text: str) -> dict[str, float]:
    """Row name → ratio in percent, from the results table (the notes are not read)."""
    found: dict[str, float] = {}
    for line in text.split(MARKER, 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not line.lstrip().startswith("|"):
            continue
        match = PERCENT.match(cells[3])
        if match is not None:
            found[cells[0]] = float(match.group(1))
    return found


def compare(committed: dict[str, float], now: dict[str, float]) -> list[Verdict]:
    return [Verdict(name, committed[name], now[name]) for name in committed if name in now]


def drops(verdicts: list[Verdict], points: float) -> list[Verdict]:
    return [v for v in verdicts if v.points < -points]


def summary(committed: dict[str, float], now: dict[str, float], points: float) -> tuple[str, bool]:
    """The lines to print, and whether every compared ratio held."""
    verdicts = compare(committed, now)
    fallen = drops(verdicts, points)
    lines = [(f"check: {len(verdicts)} ratios compared with the committed RESULTS.md "
             f"(a drop of more than {points:g} points fails)")]
    for v in verdicts:
        flag = "DROP" if v in fallen else "ok"
        lines.append(f"  {flag:4} {v.name}: {v.committed:.0f}% → {v.now:.0f}% ({v.points:+.0f})")
    for name in sorted(set(committed) - set(now)):
        lines.append(f"  --   {name}: not in this run")
    for name in sorted(set(now) - set(committed)):
        lines.append(f"  new  {name}: {now[name]:.0f}% (not in RESULTS.md)")
    if fallen:
        lines.append(f"check: {len(fallen)} ratio(s) fell: " + "; ".join(v.name for v in fallen))
    else:
        lines.append("check: no ratio fell")
    return "\n".join(lines), not fallen
