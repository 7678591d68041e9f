"""A Replicate simulator in a thread and `base serve` as a real process on SQLite."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator

import attrs
import pytest
from e2e_helpers import BASE, child_env, free_port, stop, wait_until_healthy

from adapters.auth import SessionTokens
from replicate_simulator import Simulator, SimulatorConfig


@attrs.frozen
class Server:
    url: str
    simulator_url: str
    sessions: SessionTokens
    log: str

    def token(self, user_id: str | None = None) -> str:
        return self.sessions.issue(user_id or str(uuid.uuid4()))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("serve")
    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.2, processing_delay=0.5))
    session_secret = secrets.token_urlsafe(48)
    port = free_port()
    log_path = workdir / "serve.log"
    with simulator.running_in_thread() as running, open(log_path, "w") as log:
        env = child_env(
            BASE_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'e2e.db'}",
            BASE_REPLICATE_TOKENS="r8_e2e_first_token_0001,r8_e2e_second_token_0002",
            BASE_REPLICATE_BASE_URL=running.base_url,
            BASE_SESSION_SECRET=session_secret,
            BASE_ALLOW_PRIVATE_IMAGE_URLS="true",
            BASE_RECONCILE_AFTER_SECONDS="2",
        )
        process = subprocess.Popen(
            [str(BASE), "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            yield Server(url, running.base_url, SessionTokens(session_secret), str(log_path))
        finally:
            assert stop(process) == 0, log_path.read_text()
