"""A simulator on a free loopback port and a ReplicateInference pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.replicate import ReplicateInference
from replicate_simulator import Simulator, SimulatorConfig


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(starting_delay=0.02, processing_delay=0.05, webhook_backoff=0.02)
    async with Simulator(config).running() as simulator:
        yield simulator


@pytest.fixture
async def inference(sim: Simulator) -> AsyncIterator[ReplicateInference]:
    provider = ReplicateInference(sim.base_url, timeout=1.0)
    yield provider
    await provider.aclose()
