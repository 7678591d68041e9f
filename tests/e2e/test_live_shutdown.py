"""A graceful stop of `base serve` does not wait on event streams: each open stream ends
at once with `event: closing` (its client opens it again elsewhere), and the process
exits 0. Without that, uvicorn would wait for streams that never end by themselves for
the whole BASE_SHUTDOWN_SECONDS (set far above what `stop` waits here)."""

from __future__ import annotations

import secrets
import signal
import subprocess
import uuid

import pytest
from e2e_helpers import BASE, child_env, free_port, stop, wait_until_healthy

from adapters.auth import SessionTokens
from replicate_simulator import Simulator, SimulatorConfig
from sse_client import EventStream

pytestmark = pytest.mark.slow


def test_sigterm_ends_every_open_stream_with_a_closing_event_and_exits_cleanly(tmp_path) -> None:
    simulator = Simulator(SimulatorConfig(accept_any_token=True))
    secret = secrets.token_urlsafe(48)
    sessions = SessionTokens(secret)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with simulator.running_in_thread() as running, open(log_path, "w") as log:
        env = child_env(
            BASE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
            BASE_REPLICATE_TOKENS="r8_live_first_token_0001",
            BASE_REPLICATE_BASE_URL=running.base_url,
            BASE_SESSION_SECRET=secret,
            BASE_SHUTDOWN_SECONDS="120",
            BASE_OUTPUT_DIR=str(tmp_path / "outputs"),
        )
        process = subprocess.Popen([str(BASE), "serve", "--port", str(port)], cwd=tmp_path, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            streams = [EventStream(f"{url}/api/generations/events", sessions.issue(str(uuid.uuid4())))
                       for _ in range(3)]
            assert [s.status for s in streams] == [200, 200, 200]
            for stream in streams:
                assert stream.next(comments=True).kind == "comment"  # open: its first keep-alive
            process.send_signal(signal.SIGTERM)
            for stream in streams:
                events = stream.until_end(timeout=30)
                assert [e.kind for e in events] == ["closing"], events
                assert "stopping" in events[0].json()["detail"]
                stream.close()
        finally:
            code = stop(process)
    assert code == 0, log_path.read_text()
