"""Memory: the resident set of `base serve` idle, after `first` requests and after `second`.

The requests mix the polling read, the history page and the caller check of many users;
RSS is read from /proc after each stage.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from bench import requests as rq
from bench import seed
from bench.servers import SESSION_SECRET, Load, base_serve, drive, simulator


@attrs.frozen
class MemoryResult:
    idle_kib: int
    first: int
    first_kib: int
    second: int
    second_kib: int

    @property
    def growth(self) -> float:
        return self.second_kib / self.first_kib - 1

    @property
    def met(self) -> bool:
        return self.growth <= 0.10


PLAN = seed.Plan(users=500, history=5000, history_users=500)


async def prepare(workdir: Path) -> str:
    url = await seed.fresh_database("sqlite", "bench_memory", workdir)
    await seed.load(url, PLAN)
    return url


def run(url: str, first: int, second: int, workdir: Path) -> MemoryResult:
    callers = rq.Callers(SESSION_SECRET, PLAN.users)
    mix = rq.reads(callers, PLAN, 4000) + rq.lists(callers, PLAN.users)
    # Time is not the bound here, the request count is.
    load = Load(seconds=3600, warmup=0, connections=16)
    with simulator(workdir) as sim, base_serve(url, sim.url, PLAN.tokens, workdir) as base:
        idle = base.rss_kib()
        drive(base, mix, load, count=first)
        after_first = base.rss_kib()
        drive(base, mix, load, count=second - first)
        after_second = base.rss_kib()
    return MemoryResult(idle, first, after_first, second, after_second)
