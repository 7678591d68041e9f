"""Real processes on loopback: the Replicate simulator, `base serve`, the minimal app,
and the load generator that drives them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pickle
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BASE = str(Path(sys.executable).with_name("base"))
SESSION_SECRET = secrets.token_urlsafe(48)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.frozen
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def running(name: str, argv: list[str], env: dict[str, str], probe: str, workdir: Path) -> Iterator[Server]:
    port = free_port()
    log = workdir / f"{name}.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("BASE_", "BENCH_"))}
    child_env.update(env, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*argv, "--port", str(port)], env=child_env, cwd=workdir, stdout=out, stderr=out
        )
    server = Server(name, port, process)
    try:
        _wait_up(server.url + probe, process, log)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def simulator(workdir: Path) -> contextlib.AbstractContextManager[Server]:
    # Predictions stay `starting`: nothing runs in the simulator while we measure.
    argv = [PYTHON, "-m", "replicate_simulator", "--starting-delay", "86400",
            "--processing-delay", "86400"]
    return running("simulator", argv, {}, "/", workdir)


def base_serve(database_url: str, simulator_url: str, tokens: tuple[str, ...], workdir: Path
               ) -> contextlib.AbstractContextManager[Server]:
    env = {
        "BASE_DATABASE_URL": database_url,
        "BASE_REPLICATE_TOKENS": ",".join(tokens),
        "BASE_REPLICATE_BASE_URL": simulator_url,
        "BASE_REPLICATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BASE_SESSION_SECRET": SESSION_SECRET,
        "BASE_INITIAL_CREDITS": "1000000",
        "BASE_MAX_IN_FLIGHT_PER_USER": "1000000000",
        "BASE_RECONCILE_AFTER_SECONDS": "86000",
        # Webhook mode: the poller only reconciles generations quiet for a day. Nothing is
        # ever sent there (the simulator's predictions never finish).
        "BASE_PUBLIC_URL": "http://127.0.0.1:9",
        "BASE_OUTPUT_DIR": str(workdir / "outputs"),
    }
    return running("base", [BASE, "serve"], env, "/health", workdir)


def minimal_app(database_url: str, simulator_url: str, tokens: tuple[str, ...], workdir: Path
                ) -> contextlib.AbstractContextManager[Server]:
    env = {
        "BENCH_DATABASE_URL": database_url,
        "BENCH_SIMULATOR_URL": simulator_url,
        "BENCH_SESSION_SECRET": SESSION_SECRET,
        "BENCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BENCH_TOKEN": tokens[0],
    }
    return running("minimal", [PYTHON, "-m", "bench.minimal_app"], env, "/bare", workdir)


@attrs.frozen
class Load:
    seconds: float
    warmup: float
    connections: int = 16


def drive(server: Server, requests: list[bytes], load: Load, count: int | None = None) -> dict[str, Any]:
    """Run the load generator in its own process against `server`; its report."""
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as handle:
        pickle.dump(requests, handle)
    try:
        argv = [PYTHON, "-m", "bench.load", "127.0.0.1", str(server.port), handle.name,
                "--seconds", str(load.seconds), "--warmup", str(load.warmup),
                "--connections", str(load.connections)]
        if count is not None:
            argv += ["--count", str(count)]
        done = subprocess.run(argv, capture_output=True, check=True, cwd=ROOT,
                              timeout=load.seconds + load.warmup + 120)
        report: dict[str, Any] = json.loads(done.stdout)
        return report
    finally:
        os.unlink(handle.name)
