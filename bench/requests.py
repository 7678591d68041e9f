"""The requests each benchmark sends, prepared as raw HTTP/1.1 bytes before the clock starts."""

from __future__ import annotations

import json
import random
import time

from adapters.auth import SessionTokens
from bench import seed
from replicate_simulator import sign

SEED_BODY = {
    "action": "create",
    "model_id": "flux-schnell",
    "prompt": "A beautiful sunset over mountains",
    "settings": {"aspect_ratio": "16:9", "num_outputs": 1},
}


def raw(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Callers:
    """Bearer tokens for the seeded users."""

    def __init__(self, session_secret: str, users: int) -> None:
        sessions = SessionTokens(session_secret)
        self.tokens = [sessions.issue(seed.user_id(n)) for n in range(users)]

    def auth(self, n: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[n % len(self.tokens)]}"}


def creates(callers: Callers, count: int = 500) -> list[bytes]:
    body = json.dumps(SEED_BODY).encode()
    return [
        raw("POST", "/api/generations/create",
            {**callers.auth(n), "Content-Type": "application/json"}, body)
        for n in range(count)
    ]


def reads(callers: Callers, plan: seed.Plan, count: int = 2000) -> list[bytes]:
    """GET by id of random history generations, each with its owner's token."""
    picks = random.Random(7).sample(range(plan.history), min(count, plan.history))
    return [
        raw("GET", f"/api/generations/{seed.generation_id(n)}", callers.auth(n % plan.history_users))
        for n in picks
    ]


def lists(callers: Callers, users: int, page: int = 1, limit: int = 20) -> list[bytes]:
    return [
        raw("GET", f"/api/generations/list?page={page}&limit={limit}", callers.auth(n))
        for n in range(users)
    ]


def webhooks(secret: str, first: int, count: int) -> list[bytes]:
    """`failed` for the waiting predictions first .. first+count-1, freshly signed.

    A failure resolves the hold (a refund) without outputs: a `succeeded` one would also
    make .base copy the output files into its store, work the minimal handler doesn't do.
    """
    now = int(time.time())
    out = []
    for m in range(first, first + count):
        body = json.dumps({
            "id": seed.prediction_id(m), "status": "failed", "output": None,
            "error": "the model crashed", "metrics": {"predict_time": 1.25},
            "created_at": "2026-01-01T00:00:00Z", "completed_at": "2026-01-01T00:00:02Z",
        }).encode()
        webhook_id = f"msg_bench_{m}_{now}"
        headers = {
            "Content-Type": "application/json", "webhook-id": webhook_id,
            "webhook-timestamp": str(now), "webhook-signature": sign(secret, webhook_id, now, body),
        }
        out.append(raw("POST", "/api/webhook/replicate", headers, body))
    return out


def bare(count: int = 1) -> list[bytes]:
    return [raw("GET", "/bare")] * count
