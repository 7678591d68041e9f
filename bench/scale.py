"""Scale curves: the history page and the poll at several table sizes, side by side.

One `base serve` per size runs at once, each on a database of that many generations; in
every one 1% of the rows belong to each of 100 callers (10k of 1M). The history page
(page 1, 20 a page, user 0) and the poll (`GET /api/generations/{id}` of random rows with
their owners' tokens, served as in production: from the poll cache once read) are driven
in alternating rounds over the sizes; p50 and req/s of the median round. At the largest
size also a deep page (offset 8,000). The flat-cost target: page 1 at the largest size
within 1.5× of the smallest.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import attrs

from bench import requests as rq
from bench import seed
from bench.servers import SESSION_SECRET, Load, base_serve, drive, simulator

CALLERS = 100  # each caller owns 1% of the rows
DEEP_PAGE = 401  # offset 8,000 with 20 a page
FLAT_LIMIT = 1.5


@attrs.frozen
class ScaleResult:
    database: str
    sizes: tuple[int, ...]
    lists: dict[int, dict[str, Any]]
    polls: dict[int, dict[str, Any]]
    deep: dict[str, Any]  # at the largest size

    @property
    def small(self) -> int:
        return self.sizes[0]

    @property
    def large(self) -> int:
        return self.sizes[-1]

    @property
    def ratio(self) -> float:
        return float(self.lists[self.large]["p50_ms"]) / float(self.lists[self.small]["p50_ms"])

    @property
    def met(self) -> bool:
        return self.ratio <= FLAT_LIMIT


def _plan(size: int) -> seed.Plan:
    return seed.Plan(users=CALLERS, history=size, history_users=CALLERS)


async def prepare(database: str, sizes: tuple[int, ...], workdir: Path) -> dict[int, str]:
    urls = {}
    for size in sizes:
        urls[size] = await seed.fresh_database(database, f"bench_scale_{database}_{size}", workdir)
        await seed.load(urls[size], _plan(size))
    return urls


def _median_p50(reports: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(reports, key=lambda r: r["p50_ms"])
    return ordered[len(ordered) // 2]


def _ok(report: dict[str, Any], what: str) -> dict[str, Any]:
    if set(report["statuses"]) != {"200"} or report["errors"]:
        raise RuntimeError(f"scale, {what}: {report}")
    return report


def run(database: str, sizes: tuple[int, ...], urls: dict[int, str], load: Load, rounds: int,
        workdir: Path) -> ScaleResult:
    one = rq.Callers(SESSION_SECRET, 1)
    every = rq.Callers(SESSION_SECRET, CALLERS)
    page1 = rq.lists(one, 1)
    deep = rq.lists(one, 1, page=DEEP_PAGE)
    lists: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    polls: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    deeps: list[dict[str, Any]] = []
    tokens = seed.Plan().tokens
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(simulator(workdir))
        servers = {size: stack.enter_context(base_serve(urls[size], sim.url, tokens, workdir))
                   for size in sizes}
        reads = {size: rq.reads(every, _plan(size)) for size in sizes}
        for size in sizes:  # the poll cache filled once, as a running service has it
            drive(servers[size], reads[size], Load(1, 0, load.connections))
        for _ in range(rounds):
            for size in sizes:
                lists[size].append(_ok(drive(servers[size], page1, load), f"list {size}"))
                polls[size].append(_ok(drive(servers[size], reads[size], load), f"poll {size}"))
            deeps.append(_ok(drive(servers[sizes[-1]], deep, load), "deep page"))
    return ScaleResult(database, sizes, {s: _median_p50(r) for s, r in lists.items()},
                       {s: _median_p50(r) for s, r in polls.items()}, _median_p50(deeps))


def sizes_up_to(large: int, quick: bool) -> tuple[int, ...]:
    wanted = (1000, 3000, 10_000) if quick else (1000, 100_000, 1_000_000)
    return tuple(sorted({s for s in wanted if s < large} | {large}))


def prepared(database: str, sizes: tuple[int, ...], workdir: Path) -> dict[int, str]:
    return asyncio.run(prepare(database, sizes, workdir))
