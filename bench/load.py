"""The load generator: a separate process that sends prepared HTTP/1.1 requests over
keep-alive connections on loopback for a bounded time and reports what it saw.

    python -m bench.load HOST PORT REQUESTS_FILE --seconds 5 --warmup 1 --connections 16

REQUESTS_FILE is a pickled list of raw requests (bytes), sent in turn (`--count N` stops
after N); the report (JSON on stdout) counts only responses that started after the warm-up. Plain asyncio streams keep
the client cheap, so most of the two cores go to the server under test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import pickle
import sys
import time
from collections import Counter


class Recorder:
    def __init__(self, measure_from: float, stop_at: float, limit: int) -> None:
        self.limit = limit
        self.measure_from = measure_from
        self.stop_at = stop_at
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()

    def record(self, started: float, finished: float, status: int) -> None:
        if started >= self.measure_from and finished <= self.stop_at:
            self.latencies.append(finished - started)
            self.statuses[status] += 1


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str, port: int, requests: list[bytes], turn: itertools.count[int], recorder: Recorder
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < recorder.stop_at:
            sequence = next(turn)
            if sequence >= recorder.limit:
                break
            request = requests[sequence % len(requests)]
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            recorder.record(started, time.perf_counter(), status)
    finally:
        writer.close()


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds of latencies in seconds."""
    ordered = sorted(latencies)
    return {"p50_ms": _percentile(ordered, 0.50) * 1000, "p99_ms": _percentile(ordered, 0.99) * 1000}


async def run(
    host: str,
    port: int,
    requests: list[bytes],
    seconds: float,
    warmup: float,
    connections: int,
    count: int | None = None,
) -> dict[str, object]:
    now = time.perf_counter()
    recorder = Recorder(now + warmup, now + warmup + seconds, count if count else 1 << 62)
    turn = itertools.count()
    tasks = [
        asyncio.create_task(_connection(host, port, requests, turn, recorder))
        for _ in range(connections)
    ]
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), warmup + seconds + 60)
    errors = [repr(e) for e in done if isinstance(e, BaseException)]
    return {
        "requests": len(recorder.latencies),
        "rps": len(recorder.latencies) / seconds,
        **percentiles(recorder.latencies),
        "statuses": {str(k): v for k, v in sorted(recorder.statuses.items())},
        "sent": min(next(turn), recorder.limit),
        "distinct": len(requests),
        "errors": errors[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("requests_file")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--count", type=int, default=None, help="stop after this many requests")
    args = parser.parse_args(argv)
    with open(args.requests_file, "rb") as handle:
        requests = pickle.load(handle)
    report = asyncio.run(
        run(args.host, args.port, requests, args.seconds, args.warmup, args.connections, args.count)
    )
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
