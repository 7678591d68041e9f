"""The results table, as printed and as written to bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.core import CoreResult
from bench.fanout import FanoutResult
from bench.memory import MemoryResult
from bench.overhead import Comparison
from bench.scale import FLAT_LIMIT, ScaleResult

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, "
            f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")


def _ok(met: bool) -> str:
    return "met" if met else "**missed**"


def _target(c: Comparison) -> tuple[str, str]:
    if c.target is None:
        return "(the limit)", ""
    return f"≥ {c.target:.0%}", _ok(c.met)


CORE_PER_SECOND = 20_000
CORE_INSTRUCTIONS = 400_000


def _ms(report: dict[str, object]) -> str:
    return f"{float(report['p50_ms']):.1f} / {float(report['p99_ms']):.1f}"  # type: ignore[arg-type]


def table(core: CoreResult | None, comparisons: list[Comparison], fanouts: list[FanoutResult],
          flats: list[ScaleResult], memory: MemoryResult | None,
          streams: dict[str, Any] | None = None) -> str:
    rows = ["| benchmark | .base | reference | ratio | target | |", "|---|---|---|---|---|---|"]
    for c in comparisons:
        target, verdict = _target(c)
        rows.append(
            f"| {c.name} | {c.base['rps']:.0f} req/s, "
            f"p50/p99 {_ms(c.base)} ms | {c.reference['rps']:.0f} req/s, p50/p99 "
            f"{_ms(c.reference)} ms | {c.ratio:.0%} | {target} | {verdict} |"
        )
    for o in fanouts:
        rows.append(
            f"| {o.database}: SSE fan-out of one change to {o.subscribers:,} streams vs a write loop "
            f"| last delivery {o.base['last_ms']:.1f} ms (first {o.base['first_ms']:.1f}, webhook "
            f"answered {o.base['answered_ms']:.1f}) | last delivery {o.reference['last_ms']:.1f} ms "
            f"| {o.ratio:.0%} | (none) | |"
        )
    for f in flats:
        page1_large = f.lists[f.large]
        rows.append(
            f"| {f.database}: list page 1, {f.large:,} vs {f.small:,} rows | p50 "
            f"{page1_large['p50_ms']:.1f} ms | p50 {f.lists[f.small]['p50_ms']:.1f} ms | "
            f"{f.ratio:.2f}× | ≤ {FLAT_LIMIT:g}× | {_ok(f.met)} |"
        )
        rows.append(
            f"| {f.database}: list deep page (offset 8,000), {f.large:,} rows | p50 "
            f"{f.deep['p50_ms']:.1f} ms | page 1: {page1_large['p50_ms']:.1f} ms | "
            f"{float(f.deep['p50_ms']) / float(page1_large['p50_ms']):.2f}× | (none) | |"
        )
    if core is not None:
        # Judged by the instruction count when there is one: lifecycles per second differ up
        # to 3× between machines, and 20,000/s was set where a lifecycle of ≈ 400,000
        # instructions runs at that rate.
        if core.instructions is None:
            count, met = "", core.per_second >= CORE_PER_SECOND
        else:
            count = f"; {core.instructions:,.0f} instructions per lifecycle"
            met = core.instructions <= CORE_INSTRUCTIONS
        rows.append(
            f"| core: lifecycles on the memory adapters | {core.per_second:,.0f}/s "
            f"({core.lifecycles:,} in {core.seconds:.2f} s; {core.per_cpu_second:,.0f} per CPU "
            f"second{count}) | | | ≥ {CORE_PER_SECOND:,}/s (≈ ≤ {CORE_INSTRUCTIONS:,} instructions) | "
            f"{_ok(met)} |"
        )
    if memory is not None:
        rows.append(
            f"| memory: RSS of base serve | idle {memory.idle_kib / 1024:.1f} MiB, after "
            f"{memory.first:,} {memory.first_kib / 1024:.1f} MiB, after {memory.second:,} "
            f"{memory.second_kib / 1024:.1f} MiB | | {memory.growth:+.1%} | ≤ +10% | "
            f"{_ok(memory.met)} |"
        )
    return "\n".join(rows) + scale_tables(flats, streams)


def _rate(report: dict[str, Any]) -> str:
    return f"{float(report['p50_ms']):.1f} ms | {float(report['rps']):,.0f}"


def scale_tables(scales: list[ScaleResult], streams: dict[str, Any] | None) -> str:
    """The scale curves: cost per table size, and RSS per number of open streams."""
    out = []
    if scales:
        rows = ["| database | generations | history page 1: p50 | req/s | poll: p50 | req/s |",
                "|---|---|---|---|---|---|"]
        for f in scales:
            rows += [f"| {f.database} | {size:,} | {_rate(f.lists[size])} | {_rate(f.polls[size])} |"
                     for size in f.sizes]
        out.append("\n".join(rows))
    if streams is not None:
        rows = [(f"| open SSE streams (one base serve, PostgreSQL; {streams['rss_before_mib']} MiB "
                f"before) | RSS | per stream |"), "|---|---|---|"]
        rows += [f"| {step['streams']:,} | {step['rss_mib']} MiB | {step['kib_per_stream']} KiB |"
                 for step in streams["steps"]]
        out.append("\n".join(rows))
    return "".join(f"\n\n{table}" for table in out)


def write(text: str, settings: str, notes: str) -> None:
    existing = RESULTS.read_text() if RESULTS.exists() else ""
    marker = "<!-- notes below are kept by python -m bench -->"
    kept = existing.split(marker, 1)[1] if marker in existing else notes
    RESULTS.write_text(
        f"# Benchmark results\n\nWritten by `python -m bench` from one run.\n\n"
        f"Machine: {machine()}\n\nRun: {settings}\n\n{text}\n\n{marker}{kept}"
    )
