"""A real `base serve` for the operations suite, with JSON logs and /metrics behind a token."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")
FLUX = {"action": "create", "model_id": "flux-schnell", "prompt": "a lighthouse", "settings": {"num_outputs": 1}}
TERMINAL = ("completed", "failed", "canceled")


def request(
    method: str, url: str, body: Any = None, *, token: str | None = None,
    headers: dict[str, str] | None = None, raw: bytes | None = None, timeout: float = 15.0,
) -> tuple[int, dict[str, str], Any]:
    """Status, headers (lower-cased names) and the decoded JSON body (text when not JSON)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, got, content = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, got, content = error.code, error.headers, error.read()
    names = {k.lower(): v for k, v in got.items()}
    try:
        decoded: Any = json.loads(content) if content else None
    except ValueError:
        decoded = content.decode(errors="replace")
    return status, names, decoded


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, parsed by prometheus_client's own parser."""
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value; 0 when the series was never written (a counter not yet counted)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def total(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def run_base(args: list[str], env: dict[str, str], cwd: Any, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    from live_server import BASE

    return subprocess.run([str(BASE), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
