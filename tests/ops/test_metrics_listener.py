"""BASE_METRICS_BIND: /metrics on a listener of its own, with fresh gauges from the database."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ops_helpers import request, samples, value, wait_for

from live_server import BASE, child_env, free_port, serving

pytestmark = pytest.mark.slow


def test_the_listener_serves_metrics_and_the_api_does_not(tmp_path: Path) -> None:
    bind = f"127.0.0.1:{free_port()}"
    env = {
        "BASE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'base.db'}",
        "BASE_REPLICATE_TOKENS": "r8_listener_token_0000001,r8_listener_token_0000002",
        "BASE_METRICS_BIND": bind,
    }
    with serving(tmp_path, env) as (url, _):
        assert request("GET", f"{url}/metrics")[0] == 404  # no token: not on the API at all
        status, headers, body = request("GET", f"http://{bind}/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        found = samples(body)
        # Read from the database on this scrape, though it arrived on the listener's thread.
        assert value(found, "base_tokens", state="active") == 2
        assert value(found, "base_tokens", state="retired") == 0
        request("GET", f"{url}/health/live")

        def counted() -> float:
            after = samples(request("GET", f"http://{bind}/metrics")[2])
            return value(after, "base_http_requests_total", method="GET", route="/health/live", status="200")

        # A request is counted once its answer is sent, so the scrape may come just before.
        assert wait_for(counted, 5, "the request counted") == 1


def test_a_taken_port_and_several_workers_are_refused_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        env = child_env(BASE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'base.db'}", BASE_METRICS_BIND=bind)
        for extra, words in (([], "cannot listen on"), (["--workers", "2"], "with --workers, use BASE_METRICS_TOKEN")):
            result = subprocess.run(
                [str(BASE), "serve", "--port", str(free_port()), *extra], cwd=tmp_path, env=env,
                capture_output=True, text=True, check=False, timeout=60,
            )
            assert result.returncode == 2, result.stderr
            assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert "BASE_METRICS_BIND" in result.stderr and words in result.stderr, result.stderr
