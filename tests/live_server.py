"""`base serve` as a real process on loopback, spoken to over HTTP (e2e, security, ...)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BASE = Path(sys.executable).with_name("base")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def child_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASE_")}
    env.update(variables)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_until_healthy(url: str, process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError):
            if call("GET", f"{url}/health", timeout=2)[0] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy")


def stop(process: subprocess.Popen[Any], timeout: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextlib.contextmanager
def serving(
    workdir: Path, env: dict[str, str], log_name: str = "serve.log", port: int | None = None
) -> Iterator[tuple[str, Path]]:
    """Start `base serve` on a loopback port (a free one by default); yield its URL and log."""
    port = port or free_port()
    log_path = workdir / log_name
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(BASE), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir, env=child_env(**env), stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            yield url, log_path
        finally:
            code = stop(process)
            assert code == 0, f"base serve exited with {code}:\n{log_path.read_text()}"
