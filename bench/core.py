"""Core: whole generation lifecycles per second on the in-memory adapters, in one process.

A lifecycle is what the service does for one generation: create (validate, price, hold,
submit to the fake Replicate, record the prediction), then Replicate's `succeeded` news
applied (complete and settle). The store grows as it goes, so a store whose reads scan
the tables slows down here.

The creates carry no idempotency key; `keyed=True` gives each one its own, as the studio
does (the request's fingerprint, and a look for an earlier create under the key). Nobody
subscribes to the domain events (an embedder's studio without logs or metrics);
`subscribed=True` adds one subscriber that does nothing, as a served studio has its log
and metrics subscribers, so every unit of work hands its events out.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import attrs

from adapters.memory import MemoryStore
from base_core import Context, GenerationRequest, Studio, StudioConfig, builtin_registry
from base_testing import FakeInference, ManualClock, SequentialIds

USERS = 100
REQUEST = GenerationRequest(
    action="create",
    model_id="flux-schnell",
    prompt="A beautiful sunset over mountains",
    settings={"aspect_ratio": "16:9", "num_outputs": 1},
)


@attrs.frozen
class CoreResult:
    lifecycles: int
    seconds: float
    cpu_seconds: float  # of this process: what other load on the machine doesn't inflate
    # Per lifecycle, counted by callgrind (bench/instructions.py), when valgrind is there.
    instructions: float | None = None

    @property
    def per_second(self) -> float:
        return self.lifecycles / self.seconds

    @property
    def per_cpu_second(self) -> float:
        return self.lifecycles / self.cpu_seconds


def _ignore(event: object) -> None:
    return None


async def _studio(subscribed: bool = False) -> tuple[Studio, FakeInference]:
    clock = ManualClock()
    inference = FakeInference(clock)
    context = Context(
        uow=MemoryStore(),
        inference=inference,
        registry=builtin_registry(),
        clock=clock,
        ids=SequentialIds(),
        config=StudioConfig(initial_credits=10**9),
    )
    if subscribed:
        context.dispatcher.subscribe(_ignore)
    studio = Studio(context)
    await studio.add_token("r8_bench_token_1")
    await studio.add_token("r8_bench_token_2")
    return studio, inference


async def _lifecycles(studio: Studio, inference: FakeInference, count: int, keyed: bool = False) -> None:
    users = [f"user-{n}" for n in range(USERS)]
    for user in users:
        await studio.ensure_user(user)
    keys = itertools.count(1) if keyed else None
    for n in range(count):
        user = users[n % USERS]
        key = f"key-{next(keys)}" if keys is not None else None
        generation = await studio.create_generation(user, REQUEST, key)
        assert generation.prediction_id is not None
        settled = await studio.apply_update(inference.complete(generation.prediction_id))
        assert settled is not None and settled.status.value == "completed"


async def measure(count: int) -> CoreResult:
    studio, inference = await _studio()
    await _lifecycles(studio, inference, min(200, count))  # warm up the interpreter's caches
    studio, inference = await _studio()
    started, cpu_started = time.perf_counter(), time.process_time()
    await _lifecycles(studio, inference, count)
    return CoreResult(count, time.perf_counter() - started, time.process_time() - cpu_started)


def run(count: int) -> CoreResult:
    return asyncio.run(measure(count))


if __name__ == "__main__":
    import sys

    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
    print(f"{result.lifecycles} lifecycles in {result.seconds:.2f}s: {result.per_second:,.0f}/s "
          f"({result.per_cpu_second:,.0f} per CPU second)")
