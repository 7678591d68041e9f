"""`python -m bench [--quick] [--check]`: every benchmark in one run; the table goes to
stdout and (a full run) to bench/RESULTS.md. Sizes are options so a slow machine can run a
smaller full set. `--quick --check` compares a quick run's ratios with the committed table
(bench/check.py) and exits 1 when one fell by more than 15 points."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from pathlib import Path

import attrs

from bench import check, core, instructions, memory, overhead, report, scale
from bench.servers import Load


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=None, help="per measurement")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--large", type=int, default=None, help="rows in the largest database")
    parser.add_argument("--scale-sizes", default=None,
                        help="scale: the table sizes, e.g. 1000,100000 (default 1k, 100k, --large)")
    parser.add_argument("--large-databases", default="postgres,sqlite")
    parser.add_argument("--streams", default=None, help="RSS at these open streams (100,1000,10000)")
    parser.add_argument("--lifecycles", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None, help="memory: the second count")
    parser.add_argument("--no-instructions", action="store_true",
                        help="core: skip the callgrind count that judges the target (when "
                             "valgrind is installed; bench/instructions.py)")
    parser.add_argument("--subscribers", type=int, default=1000, help="fan-out: streams")
    parser.add_argument("--only", default="core,overhead,upload,fanout,scale,streams,memory",
                        help="also: live (bench/live.py's figures, printed as JSON)")
    parser.add_argument("--scenarios", default=None,
                        help="overhead: only the scenarios whose name contains one of these, "
                             "e.g. create,webhook,Telegram,Stripe (never writes RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--write", action="store_true",
                        help="write RESULTS.md even with --quick (which prints only by default)")
    parser.add_argument("--check", action="store_true",
                        help="compare the ratios with the committed RESULTS.md; exit 1 when one "
                             "fell by more than --points (never writes)")
    parser.add_argument("--points", type=float, default=15.0, help="--check: the drop that fails")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    quick = args.quick
    seconds = args.seconds or (1.0 if quick else 5.0)
    # --check judges ratios: best of 3 short rounds swings less than one.
    rounds = args.rounds or (3 if args.check else 1 if quick else 2)
    large = args.large or (10_000 if quick else 1_000_000)
    sizes_scale = (tuple(sorted({int(n) for n in args.scale_sizes.split(",")})) if args.scale_sizes
                   else scale.sizes_up_to(large, quick))
    counts = tuple(int(n) for n in (args.streams or ("100,1000,2000" if quick else "100,1000,10000")).split(","))
    lifecycles = args.lifecycles or (300 if quick else 20_000)
    second = args.requests or (2_000 if quick else 100_000)
    first = second // 10
    load = Load(seconds=seconds, warmup=0.3 if quick else 1.0)
    only = set(args.only.split(","))
    databases = [d for d in args.databases.split(",") if d]
    settings = (f"{seconds:g} s per measurement after a warm-up, best of {rounds} alternating "
                f"rounds, 16 keep-alive connections; tables of {', '.join(f'{n:,}' for n in sizes_scale)} "
                f"rows; {', '.join(f'{n:,}' for n in counts)} open streams; "
                f"{lifecycles:,} lifecycles; memory after {first:,} and {second:,} requests")
    print(f"bench: {settings}", flush=True)

    with tempfile.TemporaryDirectory(prefix="base-bench-") as tmp:
        workdir = Path(tmp)
        core_result = core.run(lifecycles) if "core" in only else None
        if core_result is not None and not args.no_instructions and shutil.which("valgrind"):
            counted = instructions.per_lifecycle(instructions.WARMUP)[2]
            core_result = attrs.evolve(core_result, instructions=counted)
        comparisons = []
        sizes = overhead.Sizes(load=load, rounds=rounds, history=500 if quick else 2000,
                               scenarios=tuple(args.scenarios.split(",")) if args.scenarios else None,
                               waiting=2000 if quick else 30000)
        if "overhead" in only:
            for database in databases:
                plan, urls = asyncio.run(overhead.prepare(database, sizes, workdir))
                comparisons += overhead.run(database, sizes, plan, urls, workdir)
        if "upload" in only:
            from bench import uploads

            for database in databases:
                comparisons += uploads.run(database, sizes, workdir)
        fanouts = []
        if "fanout" in only:
            from bench import fanout

            for database in databases:
                fanouts.append(fanout.run(database, args.subscribers, rounds, workdir))
        flats = []
        if "scale" in only or "flat" in only:
            for database in [d for d in args.large_databases.split(",") if d in databases]:
                urls = scale.prepared(database, sizes_scale, workdir)
                flats.append(scale.run(database, sizes_scale, urls, Load(seconds, load.warmup, 4),
                                       rounds, workdir))
        streams = None
        if "streams" in only:
            from bench import streams as open_streams

            streams = open_streams.run(counts, workdir)
        memory_result = None
        if "memory" in only:
            url = asyncio.run(memory.prepare(workdir))
            memory_result = memory.run(url, first, second, workdir)

    if "live" in only:  # the live status figures; RESULTS.md keeps them in its notes
        from bench import live

        live.main(["--streams", "500" if quick else "10000", "--deliveries", "20" if quick else "300",
                   "--seconds", str(seconds), "--rounds", str(rounds), "--databases", ",".join(databases)])
    text = report.table(core_result, comparisons, fanouts, flats, memory_result, streams)
    print(text)
    if args.check:
        committed = report.RESULTS.read_text() if report.RESULTS.exists() else ""
        lines, held = check.summary(check.ratios(committed), check.ratios(text), args.points)
        print(lines)
        return 0 if held else 1
    if not args.no_write and not args.scenarios and (args.write or not quick):
        report.write(text, settings, "\n")
        print(f"written to {report.RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
