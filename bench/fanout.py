"""SSE fan-out: one change delivered to `subscribers` streams held open on one process.

.base: `subscribers` streams of one processing generation (`GET /api/generations/{id}/
events`, its owner's token) on one `base serve`; a signed `failed` webhook is sent to the
same process, and the clock runs from sending it until the last stream has the new state
(so it includes the webhook's handling, the commit and the feed). The reference
(bench/fanout_reference.py) holds as many sockets and, on `POST /fire`, writes the same
event bytes to each in one loop; same clock. One unmeasured round each first, then
alternating rounds (reference, .base), a fresh generation and fresh streams each; each
side's best round. The ratio is the reference's time over .base's (higher is better).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from adapters.auth import SessionTokens
from bench import requests as rq
from bench import seed
from bench.live import Sse, post
from bench.servers import (
    PYTHON,
    SESSION_SECRET,
    WEBHOOK_SECRET,
    Server,
    base_serve,
    running,
    simulator,
)

BATCH = 200  # streams opened at once


@attrs.frozen
class FanoutResult:
    database: str
    subscribers: int
    base: dict[str, float]
    reference: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.reference["last_ms"] / self.base["last_ms"]


async def _open(port: int, path: str, token: str, count: int) -> list[Sse]:
    streams: list[Sse] = []
    for start in range(0, count, BATCH):
        streams += await asyncio.gather(*(Sse.open(port, path, token) for _ in range(min(BATCH, count - start))))
    await asyncio.gather(*(s.event() for s in streams))  # each has its first event
    return streams


async def _round(port: int, path: str, token: str, count: int,
                 trigger: Callable[[], Awaitable[int]]) -> tuple[dict[str, float], str]:
    streams = await _open(port, path, token, count)
    try:
        async def delivered(stream: Sse) -> tuple[float, str]:
            _, data = await stream.event()
            return time.perf_counter(), data

        waiting = [asyncio.ensure_future(delivered(s)) for s in streams]
        await asyncio.sleep(0.3)  # every reader is waiting on its socket
        started = time.perf_counter()
        status = await trigger()
        answered = time.perf_counter()
        arrivals = await asyncio.wait_for(asyncio.gather(*waiting), 60)
        if status != 200:
            raise RuntimeError(f"fan-out trigger answered {status}")
    finally:
        for stream in streams:
            stream.close()
    times = sorted((at - started) * 1000 for at, _ in arrivals)
    report = {"last_ms": times[-1], "first_ms": times[0], "p50_ms": statistics.median(times),
              "answered_ms": (answered - started) * 1000}
    return report, arrivals[0][1]


@contextlib.contextmanager
def _reference(workdir: Path) -> Iterator[Server]:
    with running("fanout-reference", [PYTHON, "-m", "bench.fanout_reference"], {}, "/", workdir) as server:
        yield server


def run(database: str, subscribers: int, rounds: int, workdir: Path) -> FanoutResult:
    plan = seed.Plan(users=1, history=0, history_users=1, waiting=rounds + 1)
    url = asyncio.run(seed.fresh_database(database, f"bench_fanout_{database}", workdir))
    asyncio.run(seed.load(url, plan))
    token = SessionTokens(SESSION_SECRET).issue(seed.user_id(0))
    extra = {"BASE_LIVE_STREAMS_PER_USER": str(min(10_000, subscribers + 10)),
             "BASE_LIVE_KEEPALIVE_SECONDS": "600"}
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    with simulator(workdir) as sim, base_serve(url, sim.url, plan.tokens, workdir, **extra) as base, \
            _reference(workdir) as reference:

        def on_base(m: int) -> tuple[dict[str, float], str]:
            webhook = rq.webhooks(WEBHOOK_SECRET, m, 1)[0]
            return asyncio.run(_round(base.port, f"/api/generations/{seed.generation_id(m)}/events",
                                      token, subscribers, lambda: post(base.port, webhook)))

        def on_reference(event: bytes) -> dict[str, float]:
            fire = rq.raw("POST", "/fire", {"Content-Type": "text/event-stream"}, event)
            report, _ = asyncio.run(_round(reference.port, "/events", token, subscribers,
                                           lambda: post(reference.port, fire)))
            return report

        _, data = on_base(0)  # unmeasured; its event is what the reference sends
        event = f"event: generation\r\nid: 2\r\ndata: {data}\r\n\r\n".encode()
        on_reference(event)
        for r in range(rounds):
            theirs.append(on_reference(event))
            ours.append(on_base(r + 1)[0])
    best = lambda reports: min(reports, key=lambda x: x["last_ms"])
    return FanoutResult(database, subscribers, best(ours), best(theirs))


def describe(result: FanoutResult) -> dict[str, Any]:
    return {"database": result.database, "subscribers": result.subscribers, "base": result.base,
            "reference": result.reference, "ratio": round(result.ratio, 3)}
