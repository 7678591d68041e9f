"""Instructions per core lifecycle, counted by valgrind's callgrind: a figure that does
not move with the load on the machine.

`python -m bench.instructions [--lifecycles N]` runs bench/core.py's loop twice under
`valgrind --tool=callgrind`, each time after the same warm-up: once for N lifecycles, once
for N + 1,000. Everything else (interpreter start, imports, the warm-up, building the
studio) is the same in both runs, so the difference divided by 1,000 is what one
lifecycle costs. Hash randomisation is off (PYTHONHASHSEED=0) so two runs of the same
tree give the same figure to a fraction of a percent.

`--keyed` counts lifecycles whose creates each carry an idempotency key, as the
studio's do: the request's fingerprint and the look for an earlier create under the key
come on top. `--subscribed` counts them with one subscriber to the domain events (that
does nothing), as a served studio has its log and metrics subscribers: every unit of
work then collects and dispatches its events.

`--parts` also counts, the same way (after the same warm-up, 0 and 1,000 repetitions,
less what the repetition loop costs by itself), the pieces of a lifecycle that can run on
their own: the registry's validation, the request fingerprint (in a keyed lifecycle
only), building the accepted generation, an empty unit of work (a lifecycle has three) and
the fake Replicate's create and complete; the rest of a lifecycle is the repositories'
reads and writes and the aggregates' transitions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

STEP = 1000
WARMUP = 200


FINGERPRINT = "fingerprint"
PARTS = ("prepare", FINGERPRINT, "accept", "unit of work", "fake replicate")
NOTHING = "nothing"  # the repetition loop alone, taken off each part's figure


def _child(count: int, part: str | None = None, keyed: bool = False, subscribed: bool = False) -> None:
    """The measured program: a warm-up on one studio, then `count` lifecycles on a fresh
    one (what bench/core.py's `measure` does, without the clock), or `count` times `part`
    after a warm-up of lifecycles and of the part itself."""
    from bench.core import _lifecycles, _studio

    async def run() -> None:
        studio, inference = await _studio(subscribed)
        await _lifecycles(studio, inference, WARMUP, keyed)
        studio, inference = await _studio(subscribed)
        if part is None:
            await _lifecycles(studio, inference, count, keyed)
            return
        await _lifecycles(studio, inference, WARMUP)
        step = _part(studio, inference, part)
        for _ in range(WARMUP):
            await step()
        for _ in range(count):
            await step()

    asyncio.run(run())


def _part(studio: Any, inference: Any, part: str) -> Callable[[], Awaitable[object]]:
    from base_core.generation import Generation
    from base_core.ports import TokenCredential
    from base_core.usecases.generations import _fingerprint
    from bench.core import REQUEST

    ctx = studio.context
    prepared = ctx.registry.prepare(REQUEST, ctx.config.urls)
    now = ctx.clock.now()

    async def prepare() -> object:
        return ctx.registry.prepare(REQUEST, ctx.config.urls)

    async def fingerprint() -> object:
        return _fingerprint(REQUEST)

    async def accept() -> object:
        model = prepared.model
        return Generation.accept(
            id=ctx.ids.new_id(), user_id="user-1", action=model.action, model_id=model.id,
            model_name=model.name, prompt=REQUEST.prompt, input_image_url=None,
            settings=prepared.settings, replicate_input=prepared.replicate_input,
            cost=prepared.cost, created_at=now, updated_at=now, idempotency_key=None,
            request_fingerprint="f", input_upload_id=None,
        )

    async def unit_of_work() -> object:
        async with ctx.work() as uow:
            await uow.commit()
        return uow

    credential = TokenCredential("token", "r8_bench_token_1")

    async def fake_replicate() -> object:
        created = await inference.create(credential, "model", prepared.replicate_input, None)
        return inference.complete(created.prediction_id)

    async def nothing() -> object:
        return None

    steps = {"prepare": prepare, "fingerprint": fingerprint, "accept": accept,
             "unit of work": unit_of_work, "fake replicate": fake_replicate, NOTHING: nothing}
    return steps[part]


def count_instructions(
    lifecycles: int, python: str = sys.executable, part: str | None = None, keyed: bool = False,
    subscribed: bool = False,
) -> int:
    """Instructions (Ir) of the whole child process for `lifecycles` lifecycles (or
    repetitions of `part`)."""
    with tempfile.TemporaryDirectory(prefix="base-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             python, "-m", "bench.instructions", "--child", str(lifecycles),
             *(["--part", part] if part else []), *(["--keyed"] if keyed else []),
             *(["--subscribed"] if subscribed else [])],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        match = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(), re.MULTILINE)
        if match is None:
            raise RuntimeError("callgrind wrote no total")
        return int(match.group(1))


def per_lifecycle(
    lifecycles: int, python: str = sys.executable, keyed: bool = False, subscribed: bool = False
) -> tuple[int, int, float]:
    """The totals for `lifecycles` and `lifecycles + 1000`, and instructions per lifecycle."""
    low = count_instructions(lifecycles, python, keyed=keyed, subscribed=subscribed)
    high = count_instructions(lifecycles + STEP, python, keyed=keyed, subscribed=subscribed)
    return low, high, (high - low) / STEP


def per_part(part: str, python: str = sys.executable) -> float:
    """Instructions per repetition of `part` (0 and 1,000 repetitions)."""
    low = count_instructions(0, python, part)
    high = count_instructions(STEP, python, part)
    return (high - low) / STEP


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--lifecycles", type=int, default=200, help="N: the first run's count")
    parser.add_argument("--parts", action="store_true", help="also count a lifecycle's pieces")
    parser.add_argument("--keyed", action="store_true", help="each create with an idempotency key")
    parser.add_argument("--subscribed", action="store_true", help="one subscriber to the domain events")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=(*PARTS, NOTHING), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.part, args.keyed, args.subscribed)
        return 0
    low, high, each = per_lifecycle(args.lifecycles, keyed=args.keyed, subscribed=args.subscribed)
    kind = "".join(["keyed " if args.keyed else "", "subscribed " if args.subscribed else ""])
    print(f"{args.lifecycles:,} {kind}lifecycles: {low:,} instructions; "
          f"{args.lifecycles + STEP:,}: {high:,}; per lifecycle: {each:,.0f}", flush=True)
    if args.parts:
        rest = each
        loop = per_part(NOTHING)
        print(f"  (the repetition loop, taken off each part: {loop:,.0f})", flush=True)
        for part in PARTS:
            if part == FINGERPRINT and not args.keyed:
                continue  # only a create with an idempotency key works one out
            cost = per_part(part) - loop
            # A lifecycle has three units of work; a keyed one a fourth, the look for an
            # earlier create under its key.
            times = (4 if args.keyed else 3) if part == "unit of work" else 1
            rest -= cost * times
            label = f"{part} (x{times})" if times > 1 else part
            print(f"  {label:22} {cost * times:10,.0f}  ({cost * times / each:.0%})", flush=True)
        print(f"  {'the rest':22} {rest:10,.0f}  ({rest / each:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
