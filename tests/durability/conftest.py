"""The durability suite: faults injected through the simulator, real processes killed.

`simulator` is one Replicate simulator in a thread for the whole suite (each test clears
its faults); `webhook_service` is one `base serve` on SQLite that Replicate calls back,
with the reconciler asking after one quiet second.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from durability_helpers import SESSION_SECRET, Service, free_port, service_env

from adapters.auth import SessionTokens
from replicate_simulator import Simulator, SimulatorConfig


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    sim = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.1, processing_delay=0.6))
    with sim.running_in_thread() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    if "simulator" not in request.fixturenames:
        yield
        return
    sim: Simulator = request.getfixturevalue("simulator")
    sim.faults.clear()
    sim.settings.retention = None
    yield
    sim.faults.clear()
    sim.settings.retention = None


@pytest.fixture(scope="session")
def sessions() -> SessionTokens:
    return SessionTokens(SESSION_SECRET)


@pytest.fixture(scope="session")
def webhook_service(simulator: Simulator, sessions: SessionTokens, tmp_path_factory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("webhooks")
    port = free_port()
    env = service_env(
        simulator, f"sqlite+aiosqlite:///{workdir / 'base.db'}",
        BASE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        BASE_OUTPUT_DIR=str(workdir / "outputs"),
        BASE_MAX_IN_FLIGHT_PER_USER="50",
    )
    service = Service(env, workdir, port).start()
    try:
        yield service
    finally:
        assert service.stop() == 0, service.logs()
