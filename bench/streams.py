"""RSS of one `base serve` (PostgreSQL, feed connected) with 100, 1,000 and 10,000 idle
SSE streams open: gallery streams (`GET /api/generations/events`), 10 per user, opened
from one asyncio client and kept open as the count grows; RSS read from /proc 2 s after
each step, against the baseline taken after every user was admitted once (by a history
request, so no stream was open before the baseline)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from adapters.auth import SessionTokens
from bench import requests as rq
from bench import seed
from bench.live import Sse, post
from bench.servers import SESSION_SECRET, Server, base_serve, simulator

PATH = "/api/generations/events"
PER_USER = 10
BATCH = 200


async def _open(server: Server, tokens: list[str], first: int, count: int) -> list[Sse]:
    opened: list[Sse] = []
    for start in range(first, first + count, BATCH):
        opened += await asyncio.gather(*(
            Sse.open(server.port, PATH, tokens[n % len(tokens)])
            for n in range(start, min(start + BATCH, first + count))
        ))
    return opened


async def _grow(server: Server, counts: tuple[int, ...]) -> dict[str, Any]:
    sessions = SessionTokens(SESSION_SECRET)
    users = max(1, counts[-1] // PER_USER)
    tokens = [sessions.issue(seed.user_id(20_000 + n)) for n in range(users)]
    for start in range(0, users, 50):  # every user admitted once, without opening a stream
        statuses = await asyncio.gather(*(
            post(server.port, rq.raw("GET", "/api/generations/list?limit=1",
                                     {"Authorization": f"Bearer {tokens[n]}"}))
            for n in range(start, min(start + 50, users))
        ))
        if set(statuses) != {200}:
            raise RuntimeError(f"admitting the stream users: {statuses}")
    await asyncio.sleep(2)
    before = server.rss_kib()
    opened: list[Sse] = []
    steps = []
    try:
        for count in counts:
            opened += await _open(server, tokens, len(opened), count - len(opened))
            await asyncio.sleep(2)
            rss = server.rss_kib()
            steps.append({"streams": count, "rss_mib": round(rss / 1024, 1),
                          "kib_per_stream": round((rss - before) / count, 1)})
    finally:
        for stream in opened:
            stream.close()
    return {"rss_before_mib": round(before / 1024, 1), "users": users, "steps": steps}


def run(counts: tuple[int, ...], workdir: Path) -> dict[str, Any]:
    url = asyncio.run(seed.fresh_database("postgres", "bench_streams", workdir))
    extra = {"BASE_LIVE_STREAMS_PER_USER": str(PER_USER + 1), "BASE_LIVE_KEEPALIVE_SECONDS": "15"}
    with simulator(workdir) as sim, \
            base_serve(url, sim.url, ("r8_bench_token_0001",), workdir, **extra) as server:
        return asyncio.run(_grow(server, tuple(sorted(counts))))
