"""Real processes: `base serve` (and `base demo`) as subprocesses, spoken to over HTTP."""

from __future__ import annotations

from live_server import BASE, call, child_env, free_port, stop, wait_until_healthy

__all__ = ["BASE", "call", "child_env", "free_port", "stop", "wait_until_healthy"]
