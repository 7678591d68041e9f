"""Secrets never leave the service: not in a response, a log line or an error message.

A full scenario (sign-in, admin token management, generations that succeed, fail and
are cancelled, tokens answering 401/402/429/500, forged and genuine webhooks) runs twice:
in process with every logger captured at DEBUG, and against a real `base serve` whose
stdout and stderr are kept. Every response body and header, and all of that output, is
searched for each secret.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from adapters.auth import SessionTokens, sign_init_data
from adapters.replicate import sign
from entrypoints.bootstrap import open_services
from entrypoints.http import create_app
from entrypoints.settings import Settings
from live_server import serving
from replicate_simulator import Simulator, SimulatorConfig

ADMIN_ID = str(uuid.UUID(int=0xAD))
TOKENS = ["r8_SECRETtokenAAAA1111111111111111", "r8_SECRETtokenBBBB2222222222222222",
          "r8_SECRETtokenCCCC3333333333333333"]
ADDED_TOKEN = "r8_SECRETaddedDDDD4444444444444444444444"
SESSION_SECRET = "SECRETsession-" + secrets.token_urlsafe(40)
SUPABASE_SECRET = "SECRETsupabase-" + secrets.token_urlsafe(40)
BOT_TOKEN = "424242:SECRETbot-" + secrets.token_urlsafe(20)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"SECRET-webhook-key-0123456789abc").decode()
BODY = {"action": "create", "model_id": "flux-schnell", "prompt": "a fox", "settings": {"num_outputs": 1}}


def needles() -> dict[str, str]:
    found = {f"replicate token {i}": t for i, t in enumerate(TOKENS)}
    found.update({
        "added token": ADDED_TOKEN,
        "session secret": SESSION_SECRET,
        "supabase secret": SUPABASE_SECRET,
        "bot token": BOT_TOKEN,
        "bot token secret part": BOT_TOKEN.split(":", 1)[1],
        "webhook secret": WEBHOOK_SECRET,
        "webhook key": WEBHOOK_SECRET.removeprefix("whsec_"),
    })
    # The middle of each token, so a partly masked or truncated leak is found too.
    for name, value in list(found.items()):
        if name.startswith(("replicate", "added")):
            found[name + " (middle)"] = value[4:-4]
    return found


def assert_no_secret(text: str, where: str, extra: dict[str, str] | None = None) -> None:
    for name, value in {**needles(), **(extra or {})}.items():
        assert value not in text, f"the {name} appears in {where}"


def dump(response: httpx.Response) -> str:
    return f"{response.status_code} {dict(response.headers)} {response.text}"


def simulator() -> Simulator:
    return Simulator(SimulatorConfig(
        accept_any_token=True, starting_delay=0.05, processing_delay=0.1,
        account_secrets={}, webhook_attempts=2, webhook_backoff=0.05,
    ))


async def scenario(client: Any, sim: Simulator, public: bool) -> list[str]:
    """Drive every path that handles a secret; return what the client saw."""
    seen: list[str] = []
    sessions = SessionTokens(SESSION_SECRET)
    admin = {"Authorization": f"Bearer {sessions.issue(ADMIN_ID)}"}
    user = {"Authorization": f"Bearer {sessions.issue(str(uuid.uuid4()))}"}

    async def go(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await client.request(method, path, **kwargs)
        seen.append(f"{method} {path} -> {dump(response)}")
        return response

    # Sign-in: genuine, forged and with a bot token in the wrong place.
    fields = {"user": json.dumps({"id": 99, "first_name": "Kim"}), "auth_date": str(int(time.time()))}
    await go("POST", "/api/auth/telegram", json={"initData": sign_init_data(fields, BOT_TOKEN)})
    await go("POST", "/api/auth/telegram", json={"initData": sign_init_data(fields, "1:wrong")})
    await go("GET", "/api/me", headers={"Authorization": f"Bearer {SUPABASE_SECRET}"})
    await go("GET", "/api/me", headers={"Authorization": f"Bearer {TOKENS[0]}"})

    # The pool as operators see it.
    await go("POST", "/api/admin/tokens", json={"token": ADDED_TOKEN, "label": "added"}, headers=admin)
    await go("POST", "/api/admin/tokens", json={"token": ADDED_TOKEN + " x", "label": "bad"}, headers=admin)
    stats = await go("GET", "/api/admin/tokens/stats", headers=admin)
    for token in stats.json()["tokens"]:
        await go("PATCH", f"/api/admin/tokens/{token['id']}", json={"is_active": True}, headers=admin)

    # Generations through healthy tokens, then tokens failing in every way.
    created = await go("POST", "/api/generations/create", json=BODY, headers=user)
    for status in (500, 429, 402, 401):
        sim.faults.next_requests(1, status=status, operation="create")
        await go("POST", "/api/generations/create", json=BODY, headers=user)
    sim.faults.next_requests(1, outcome="failed", error="model crashed")
    await go("POST", "/api/generations/create", json=BODY, headers=user)
    running = await go("POST", "/api/generations/create", json=BODY, headers=user)
    if running.status_code == 201:
        await go("DELETE", f"/api/generations/{running.json()['id']}", headers=user)
    sim.faults.next_requests(10, status=401)
    await go("POST", "/api/generations/create", json=BODY, headers=user)
    sim.faults.clear()

    # Webhooks: forged, stale, signed with the right secret for an unknown prediction.
    body = json.dumps({"id": "unknown-prediction", "status": "succeeded", "output": []}).encode()
    stamp = int(time.time())
    forged = {"webhook-id": "msg_1", "webhook-timestamp": str(stamp), "webhook-signature": "v1,AAAA",
              "content-type": "application/json"}
    await go("POST", "/api/webhook/replicate", content=body, headers=forged)
    stale = {**forged, "webhook-timestamp": str(stamp - 3600),
             "webhook-signature": sign(WEBHOOK_SECRET, "msg_1", stamp - 3600, body)}
    await go("POST", "/api/webhook/replicate", content=body, headers=stale)
    if created.status_code == 201:
        await go("GET", f"/api/generations/{created.json()['id']}", headers=user)
    await go("GET", "/api/generations/list", headers=user)
    await go("GET", "/api/admin/tokens/stats", headers=admin)
    await go("GET", "/schema/openapi.json")
    return seen


async def test_no_secret_in_responses_or_any_log_line_in_process(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.DEBUG)
    sim = simulator()
    with sim.running_in_thread() as running:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'secrets.db'}",
            replicate_tokens=tuple(TOKENS),
            replicate_base_url=running.base_url,
            replicate_webhook_secret=WEBHOOK_SECRET,
            supabase_jwt_secret=SUPABASE_SECRET,
            telegram_bot_token=BOT_TOKEN,
            session_secret=SESSION_SECRET,
            admin_user_ids=frozenset({ADMIN_ID}),
            reconcile_after_seconds=1,
            output_dir=tmp_path / "outputs",
        )
        async with AsyncTestClient(app=create_app(lambda: open_services(settings))) as client:
            seen = await scenario(client, sim, public=False)
            time.sleep(1.5)  # let the poller run its course through the failing tokens
    assert any(" 201 " in line for line in seen) and any(" 503 " in line or " 401 " in line for line in seen)
    for line in seen:
        assert_no_secret(line, f"a response: {line[:120]}")
    text = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged"
    assert_no_secret(text, "the logs")
    assert_no_secret(repr(settings), "repr(Settings)")


@pytest.mark.slow
async def test_no_secret_in_a_real_servers_output(tmp_path):
    sim = simulator()
    with sim.running_in_thread() as running:
        from live_server import free_port

        port = free_port()
        env = {
            "BASE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'secrets.db'}",
            "BASE_REPLICATE_TOKENS": ",".join(TOKENS),
            "BASE_REPLICATE_BASE_URL": running.base_url,
            "BASE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "BASE_SUPABASE_JWT_SECRET": SUPABASE_SECRET,
            "BASE_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "BASE_SESSION_SECRET": SESSION_SECRET,
            "BASE_ADMIN_USER_IDS": ADMIN_ID,
            "BASE_RECONCILE_AFTER_SECONDS": "1",
            "BASE_OUTPUT_DIR": str(tmp_path / "outputs"),
        }
        # Webhook secrets are fetched per account from the simulator here: they are secrets too.
        account_secrets = {f"webhook secret {i}": sim.secret_for_token(t) for i, t in enumerate(TOKENS)}
        with serving(tmp_path, env, port=port) as (url, log_path):
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                seen = await scenario(client, sim, public=True)
                time.sleep(1.5)
        output = log_path.read_text()
    assert "POST /api/generations/create" in output  # the access log was captured
    for line in seen:
        assert_no_secret(line, f"a response: {line[:120]}", account_secrets)
    assert_no_secret(output, "the server's output", account_secrets)
