"""Flat cost: the history page with a small and with a large table, side by side.

Two `base serve` processes run at once, one on a database of `small` generations and one
on `large`; in both, 1% of the rows belong to the caller (10k of 1M). Page 1 on each, and
a deep page (offset 8,000) on the large one, in alternating rounds; p50 of each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from bench import requests as rq
from bench import seed
from bench.servers import SESSION_SECRET, Load, base_serve, drive, simulator

CALLERS = 100  # the caller is user 0 of 100: 1% of the rows
DEEP_PAGE = 401  # offset 8,000 with 20 a page


@attrs.frozen
class FlatResult:
    database: str
    small: int
    large: int
    page1_small: dict[str, Any]
    page1_large: dict[str, Any]
    deep_large: dict[str, Any]

    @property
    def ratio(self) -> float:
        return float(self.page1_large["p50_ms"]) / float(self.page1_small["p50_ms"])

    @property
    def met(self) -> bool:
        return self.ratio <= 1.5


def _plan(size: int) -> seed.Plan:
    return seed.Plan(users=CALLERS, history=size, history_users=CALLERS)


async def prepare(database: str, small: int, large: int, workdir: Path) -> dict[int, str]:
    urls = {}
    for size in (small, large):
        urls[size] = await seed.fresh_database(database, f"bench_flat_{database}_{size}", workdir)
        await seed.load(urls[size], _plan(size))
    return urls


def _median_p50(reports: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(reports, key=lambda r: r["p50_ms"])
    return ordered[len(ordered) // 2]


def run(database: str, small: int, large: int, urls: dict[int, str], load: Load, rounds: int,
        workdir: Path) -> FlatResult:
    callers = rq.Callers(SESSION_SECRET, 1)
    page1 = rq.lists(callers, 1)
    deep = rq.lists(callers, 1, page=DEEP_PAGE)
    tokens = seed.Plan().tokens
    reports: dict[str, list[dict[str, Any]]] = {"small": [], "large": [], "deep": []}
    with simulator(workdir) as sim, \
            base_serve(urls[small], sim.url, tokens, workdir) as on_small, \
            base_serve(urls[large], sim.url, tokens, workdir) as on_large:
        for _ in range(rounds):
            reports["small"].append(drive(on_small, page1, load))
            reports["large"].append(drive(on_large, page1, load))
            reports["deep"].append(drive(on_large, deep, load))
    for name, runs in reports.items():
        for report in runs:
            if set(report["statuses"]) != {"200"}:
                raise RuntimeError(f"flat cost, {name}: {report}")
    return FlatResult(database, small, large, _median_p50(reports["small"]),
                      _median_p50(reports["large"]), _median_p50(reports["deep"]))
