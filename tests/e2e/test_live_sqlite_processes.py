"""Two `base serve` on one SQLite file: webhooks reach A only, and B's event streams still
see every change, by re-reading the file every BASE_LIVE_POLL_SECONDS (SQLite cannot tell
one process what another committed). The poll cache is off, as the README says to set it
for this deployment."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import BASE, call, child_env, free_port, stop, wait_until_healthy

from adapters.auth import SessionTokens
from replicate_simulator import Simulator, SimulatorConfig
from sse_client import EventStream

pytestmark = pytest.mark.slow

BODY = {"action": "create", "model_id": "flux-schnell", "prompt": "one file, two servers",
        "settings": {"num_outputs": 1}}


@contextlib.contextmanager
def serve(workdir: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    log_path = workdir / f"serve-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(BASE), "serve", "--port", str(port)], cwd=workdir,
                                   env=child_env(**env), stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            yield url
        finally:
            assert stop(process) == 0, log_path.read_text()


def test_a_process_sharing_the_file_streams_changes_it_did_not_make(tmp_path):
    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.3, processing_delay=0.8))
    secret = secrets.token_urlsafe(48)
    sessions = SessionTokens(secret)
    a_port, b_port = free_port(), free_port()
    with simulator.running_in_thread() as running:
        env = {
            "BASE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
            "BASE_REPLICATE_TOKENS": "r8_shared_file_token_0001",
            "BASE_REPLICATE_BASE_URL": running.base_url,
            "BASE_PUBLIC_URL": f"http://127.0.0.1:{a_port}",
            "BASE_SESSION_SECRET": secret,
            "BASE_ALLOW_PRIVATE_IMAGE_URLS": "true",
            "BASE_RECONCILE_AFTER_SECONDS": "600",  # B never asks Replicate itself
            "BASE_LIVE_POLL_SECONDS": "0.2",
            "BASE_LIVE_CACHE": "off",
            "BASE_OUTPUT_DIR": str(tmp_path / "outputs"),
        }
        with serve(tmp_path, a_port, env) as a, serve(tmp_path, b_port, env) as b:
            token = sessions.issue(str(uuid.uuid4()))
            with EventStream(f"{b}/api/generations/events", token) as gallery:
                assert gallery.next(comments=True).kind == "comment"
                status, created = call("POST", f"{a}/api/generations/create", BODY, token)
                assert status == 201, created
                with EventStream(f"{b}/api/generations/{created['id']}/events", token) as one:
                    states = [e.json() for e in one.until_end()]
                assert states[-1]["status"] == "completed"
                assert states[-1] == call("GET", f"{a}/api/generations/{created['id']}", token=token)[1]
                # A poll tells a row's latest state: read the gallery up to the completion
                # before deleting, or one poll may see only the deletion.
                seen = []
                while not any(e.kind == "generation" and e.json()["status"] == "completed" for e in seen):
                    seen.append(gallery.next(20))
                assert call("DELETE", f"{a}/api/generations/{created['id']}", token=token)[0] == 200
                while not any(e.kind == "deleted" for e in seen):
                    seen.append(gallery.next(20))
                assert {e.json()["id"] for e in seen} == {created["id"]}
            assert call("GET", f"{b}/api/generations/{created['id']}", token=token)[0] == 404
