"""`python -m bench.live`: the live status figures (bench/RESULTS.md, "Live status").

- delivery: a webhook accepted by `base serve` A → the event on an SSE stream held open
  on `base serve` B, both on one PostgreSQL database (p50/p99 over `--deliveries`);
- idle streams: `--streams` SSE streams held open on one `base serve` (PostgreSQL, feed
  connected): RSS per stream, and the event-loop lag seen as `/health` latency while they
  are open (including a keep-alive round);
- polls: GET /api/generations/{id} per second with the poll cache, with it turned off
  (the database read it replaces), and the bare JSON endpoint of the minimal app, on
  PostgreSQL and SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.auth import SessionTokens
from bench import requests as rq
from bench import seed
from bench.servers import (
    SESSION_SECRET,
    WEBHOOK_SECRET,
    Load,
    Server,
    base_env,
    drive,
    minimal_app,
    serving,
    simulator,
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Sse:
    """One raw SSE stream over asyncio streams (cheap enough for thousands)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, path: str, token: str) -> Sse:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(rq.raw("GET", path, {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        return cls(reader, writer)

    async def event(self) -> tuple[str, str]:
        """The next event's kind and data (comments skipped; chunk sizes skipped)."""
        kind, data = "message", ""
        while True:
            line = (await self.reader.readline()).decode().rstrip("\r\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                return kind, data
            elif not line and self.reader.at_eof():
                raise EOFError

    def close(self) -> None:
        self.writer.close()


async def post(port: int, request: bytes) -> int:
    """Send one request on a new connection; its status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        return status
    finally:
        writer.close()


async def _deliveries(a: Server, b: Server, plan: seed.Plan, count: int) -> list[float]:
    sessions = SessionTokens(SESSION_SECRET)
    latencies = []
    for i in range(count):
        m = plan.history + i
        token = sessions.issue(seed.user_id(m % plan.users))
        stream = await Sse.open(b.port, f"/api/generations/{seed.generation_id(m)}/events", token)
        try:
            _, data = await stream.event()
            assert json.loads(data)["status"] == "processing", data
            request = rq.webhooks(WEBHOOK_SECRET, m, 1)[0]
            started = time.perf_counter()
            status = await post(a.port, request)
            _kind, data = await asyncio.wait_for(stream.event(), 10)
            latencies.append(time.perf_counter() - started)
            assert status == 200 and json.loads(data)["status"] == "failed", (status, data)
        finally:
            stream.close()
    return latencies


def delivery(workdir: Path, count: int) -> dict[str, Any]:
    plan = seed.Plan(users=20, history=0, history_users=1, waiting=count)
    url = asyncio.run(seed.fresh_database("postgres", "bench_live_delivery", workdir))
    asyncio.run(seed.load(url, plan))
    with simulator(workdir) as sim, \
            serving("live-a", base_env(url, sim.url, plan.tokens, workdir), workdir) as a, \
            serving("live-b", base_env(url, sim.url, plan.tokens, workdir), workdir) as b:
        latencies = asyncio.run(_deliveries(a, b, plan, count))
    ms = [x * 1000 for x in latencies]
    return {"deliveries": len(ms), "p50_ms": round(percentile(ms, 0.5), 1),
            "p99_ms": round(percentile(ms, 0.99), 1), "max_ms": round(max(ms), 1),
            "mean_ms": round(statistics.fmean(ms), 1)}


async def _health_latency(port: int, samples: int = 200) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        request = rq.raw("GET", "/health")
        for _ in range(samples):
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            body = await reader.readuntil(b"}")
            out.append((time.perf_counter() - started) * 1000)
            del body
            await asyncio.sleep(0.01)
    finally:
        writer.close()
    return out


async def _idle(server: Server, streams: int, users: int, keepalive: float) -> dict[str, Any]:
    sessions = SessionTokens(SESSION_SECRET)
    tokens = [sessions.issue(seed.user_id(10_000 + n)) for n in range(users)]
    # Warm-up: every user admitted, the pool grown, then closed; the baseline after it.
    for start in range(0, users, 200):
        warm = await asyncio.gather(*(
            Sse.open(server.port, "/api/generations/events", tokens[n])
            for n in range(start, min(start + 200, users))
        ))
        for stream in warm:
            stream.close()
    await asyncio.sleep(2)
    before = await _health_latency(server.port)
    rss_before = server.rss_kib()
    opened: list[Sse] = []
    for start in range(0, streams, 200):
        batch = await asyncio.gather(*(
            Sse.open(server.port, "/api/generations/events", tokens[n % users])
            for n in range(start, min(start + 200, streams))
        ))
        opened.extend(batch)
    await asyncio.sleep(2)
    rss_open = server.rss_kib()
    during = await _health_latency(server.port, samples=int(keepalive * 100 * 1.2))  # spans a keep-alive round
    for stream in opened:
        stream.close()
    per_stream = (rss_open - rss_before) / streams
    return {
        "streams": streams, "users": users, "rss_before_mib": round(rss_before / 1024, 1),
        "rss_open_mib": round(rss_open / 1024, 1), "kib_per_stream": round(per_stream, 1),
        "health_p50_before_ms": round(percentile(before, 0.5), 2),
        "health_p99_before_ms": round(percentile(before, 0.99), 2),
        "health_p50_open_ms": round(percentile(during, 0.5), 2),
        "health_p99_open_ms": round(percentile(during, 0.99), 2),
        "health_max_open_ms": round(max(during), 2),
    }


def idle_streams(workdir: Path, streams: int, users: int, keepalive: float = 5.0) -> dict[str, Any]:
    url = asyncio.run(seed.fresh_database("postgres", "bench_live_idle", workdir))
    extra = {"BASE_LIVE_STREAMS_PER_USER": str(max(1, streams // users + 1)),
             "BASE_LIVE_KEEPALIVE_SECONDS": str(keepalive)}
    with simulator(workdir) as sim, \
            serving("live-idle", base_env(url, sim.url, ("r8_bench_token_0001",), workdir, **extra), workdir) as server:
        report = asyncio.run(_idle(server, streams, users, keepalive))
    report["keepalive_s"] = keepalive
    return report


@contextlib.contextmanager
def _poll_servers(database: str, workdir: Path, plan: seed.Plan) -> Iterator[tuple[Server, Server, Server]]:
    url = asyncio.run(seed.fresh_database(database, f"bench_live_polls_{database}", workdir))
    asyncio.run(seed.load(url, plan))
    with simulator(workdir) as sim, \
            serving(f"polls-cache-{database}", base_env(url, sim.url, plan.tokens, workdir), workdir) as cached, \
            serving(f"polls-nocache-{database}", base_env(url, sim.url, plan.tokens, workdir, BASE_LIVE_CACHE="off"), workdir) as uncached, \
            minimal_app(url, sim.url, plan.tokens, workdir) as minimal:
        yield cached, uncached, minimal


def polls(database: str, workdir: Path, load: Load, rounds: int) -> dict[str, Any]:
    plan = seed.Plan(users=50, history=2000, history_users=50, waiting=0)
    callers = rq.Callers(SESSION_SECRET, plan.users)
    reads = rq.reads(callers, plan)
    with _poll_servers(database, workdir, plan) as (cached, uncached, minimal):
        drive(cached, reads, Load(seconds=1, warmup=0.2))  # fill the cache once
        best: dict[str, dict[str, Any]] = {}
        for _ in range(rounds):
            for name, server, requests in (("bare", minimal, rq.bare()), ("cache", cached, reads),
                                           ("database", uncached, reads)):
                report = drive(server, requests, load)
                bad = {k: v for k, v in report["statuses"].items() if not k.startswith("2")}
                if bad or report["errors"]:
                    raise RuntimeError(f"{name}: {report}")
                if name not in best or report["rps"] > best[name]["rps"]:
                    best[name] = report
    out = {name: {"rps": round(r["rps"]), "p50_ms": r.get("p50_ms"), "p99_ms": r.get("p99_ms")}
           for name, r in best.items()}
    out["cache_vs_bare"] = round(best["cache"]["rps"] / best["bare"]["rps"], 3)
    out["database_vs_bare"] = round(best["database"]["rps"] / best["bare"]["rps"], 3)
    out["cache_vs_database"] = round(best["cache"]["rps"] / best["database"]["rps"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live")
    parser.add_argument("--only", default="delivery,idle,polls")
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=None, help="default: streams // 10")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--databases", default="postgres,sqlite")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="base-bench-live-") as tmp:
        workdir = Path(tmp)
        if "delivery" in only:
            results["delivery"] = delivery(workdir, args.deliveries)
            print(json.dumps({"delivery": results["delivery"]}), flush=True)
        if "idle" in only:
            results["idle"] = idle_streams(workdir, args.streams, args.users or max(1, args.streams // 10))
            print(json.dumps({"idle": results["idle"]}), flush=True)
        if "polls" in only:
            for database in [d for d in args.databases.split(",") if d]:
                results[f"polls_{database}"] = polls(database, workdir, Load(args.seconds, 1.0), args.rounds)
                print(json.dumps({f"polls_{database}": results[f"polls_{database}"]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
