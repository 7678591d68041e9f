"""Real processes on loopback: the Replicate simulator, `base serve`, the minimal app,
and the load generator that drives them.

`base serve` runs as a production deployment runs it: webhook mode, JSON log lines,
Telegram Stars and Stripe switched on, and metrics on a listener of their own that is
scraped every `SCRAPE_SECONDS` while the server runs (each scrape reads the shared gauges
from the database). The domain events, the live feed's publisher (LISTEN/NOTIFY on
PostgreSQL, in-process on SQLite) and the request-metrics middleware are always on.
"""

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
import threading
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
TELEGRAM_BOT_TOKEN = "123456789:bench_bot_token"
TELEGRAM_WEBHOOK_SECRET = secrets.token_urlsafe(32)
STRIPE_SECRET_KEY = "sk_test_bench"
STRIPE_WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(16)
SCRAPE_SECONDS = 15.0  # a common Prometheus scrape_interval
NOWHERE = "http://127.0.0.1:9"  # nothing listens: no benchmark makes base serve call it


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
    # This checkout's own code first, ahead of any installed copy of it.
    child_env.update(env, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
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


def base_env(database_url: str, simulator_url: str, tokens: tuple[str, ...], workdir: Path,
             **extra: str) -> dict[str, str]:
    """The settings of a production deployment, pointed at the benchmark's database."""
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
        "BASE_PUBLIC_URL": NOWHERE,
        "BASE_OUTPUT_DIR": str(workdir / "outputs"),
        "BASE_LOG_FORMAT": "json",
        "BASE_METRICS_BIND": f"127.0.0.1:{free_port()}",
        # Payments on, as sold in production; a paid webhook makes no call to either API.
        "BASE_TELEGRAM_BOT_TOKEN": TELEGRAM_BOT_TOKEN,
        "BASE_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_WEBHOOK_SECRET,
        "BASE_TELEGRAM_API_URL": NOWHERE,
        "BASE_STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "BASE_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "BASE_STRIPE_API_URL": NOWHERE,
    }
    env.update(extra)
    return env


@contextlib.contextmanager
def scraped(metrics_bind: str, every: float = SCRAPE_SECONDS) -> Iterator[None]:
    """GET /metrics every `every` seconds on a thread, as Prometheus would."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                with urllib.request.urlopen(f"http://{metrics_bind}/metrics", timeout=10) as answer:
                    answer.read()
            except OSError:
                pass  # the next scrape tries again, as Prometheus does

    thread = threading.Thread(target=loop, name="scrape", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(15)


@contextlib.contextmanager
def serving(name: str, env: dict[str, str], workdir: Path) -> Iterator[Server]:
    """`base serve` with `env` (base_env's), scraped while it runs."""
    with running(name, [BASE, "serve"], env, "/health", workdir) as server, \
            scraped(env["BASE_METRICS_BIND"]):
        yield server


def base_serve(database_url: str, simulator_url: str, tokens: tuple[str, ...], workdir: Path,
               **extra: str) -> contextlib.AbstractContextManager[Server]:
    return serving("base", base_env(database_url, simulator_url, tokens, workdir, **extra), workdir)


def minimal_app(database_url: str, simulator_url: str, tokens: tuple[str, ...], workdir: Path,
                **extra: str) -> contextlib.AbstractContextManager[Server]:
    env = {
        "BENCH_DATABASE_URL": database_url,
        "BENCH_SIMULATOR_URL": simulator_url,
        "BENCH_SESSION_SECRET": SESSION_SECRET,
        "BENCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BENCH_TOKEN": tokens[0],
        "BENCH_TELEGRAM_SECRET": TELEGRAM_WEBHOOK_SECRET,
        "BENCH_STRIPE_SECRET": STRIPE_WEBHOOK_SECRET,
        **extra,
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
