"""Output URLs survive a move: a `base serve` restarted on another port (the demo's TIME-WAIT
case) answers with URLs on its new address, and serves the old URLs' paths too."""

from __future__ import annotations

import time
import urllib.request
import uuid

import pytest
from e2e_helpers import call, free_port

from adapters.auth import SessionTokens
from live_server import serving
from replicate_simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.slow
SECRET = "session-secret-for-the-url-test-" + "x" * 16


def test_a_restart_on_another_port_still_serves_every_earlier_output(tmp_path):
    sim = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.1, processing_delay=0.3))
    token = SessionTokens(SECRET).issue(str(uuid.uuid4()))
    with sim.running_in_thread() as running:
        env = {
            "BASE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'base.db'}",
            "BASE_REPLICATE_TOKENS": "r8_url_test_token_0000000000000000000000",
            "BASE_REPLICATE_BASE_URL": running.base_url,
            "BASE_SESSION_SECRET": SECRET,
            "BASE_OUTPUT_DIR": str(tmp_path / "outputs"),
        }
        body = {"action": "create", "model_id": "flux-schnell", "prompt": "a harbour", "settings": {}}
        with serving(tmp_path, env, "first.log") as (first, _):
            status, created = call("POST", f"{first}/api/generations/create", body, token)
            assert status == 201, created
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                generation = call("GET", f"{first}/api/generations/{created['id']}", token=token)[1]
                if generation["status"] == "completed" and "/outputs/" in generation["output_urls"][0]:
                    break
                time.sleep(0.2)
            [old_url] = generation["output_urls"]
            assert old_url.startswith(first + "/outputs/")
        with serving(tmp_path, env, "second.log", port=free_port()) as (second, _):
            assert second != first
            [new_url] = call("GET", f"{second}/api/generations/{created['id']}", token=token)[1]["output_urls"]
            assert new_url == second + old_url.removeprefix(first)
            with urllib.request.urlopen(new_url, timeout=10) as image:
                assert image.status == 200 and image.read()[:4] == b"RIFF"
