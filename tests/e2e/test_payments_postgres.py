"""Two `base serve` processes on one PostgreSQL database, each sent the same payment at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from live_server import BASE, call, child_env, free_port, serving
from sqlalchemy.ext.asyncio import create_async_engine
from test_payments import (
    BOT_TOKEN,
    STRIPE_KEY,
    STRIPE_WHSEC,
    TELEGRAM_SECRET,
    Shop,
    _raw,
    shop_env,
)

from payment_simulator import PaymentSimulator, stripe_signature

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
COPIES = 5


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def database_url() -> Iterator[str]:
    server = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    name = f"payments_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _everywhere(urls: list[str], path: str, body: bytes, headers: dict[str, str]) -> list[int]:
    with ThreadPoolExecutor(max_workers=len(urls) * COPIES) as pool:
        futures = [pool.submit(_raw, f"{url}{path}", body, headers) for url in urls for _ in range(COPIES)]
        return [f.result()[0] for f in futures]


def test_the_same_payment_sent_to_two_processes_at_once_credits_once(database_url, tmp_path: Path) -> None:
    first, second = free_port(), free_port()
    sim = PaymentSimulator(BOT_TOKEN, STRIPE_KEY, STRIPE_WHSEC)
    with sim.running_in_thread():
        env = shop_env(tmp_path, first, sim.base_url, database_url)
        migrated = subprocess.run([str(BASE), "migrate"], env=child_env(**env), capture_output=True, text=True)
        assert migrated.returncode == 0, migrated.stderr
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with serving(tmp_path / "a", env, port=first) as (a, log), serving(tmp_path / "b", env, port=second) as (b, _):
            shop = Shop(a, sim, log, env, tmp_path)
            user_id, token = shop.user()

            telegram = shop.buy(token, "telegram")
            update = {"update_id": 1, "message": {"message_id": 1, "from": {"id": 99}, "successful_payment": {
                "currency": "XTR", "total_amount": 50, "invoice_payload": telegram["purchase_id"],
                "telegram_payment_charge_id": "charge-once", "provider_payment_charge_id": ""}}}
            statuses = _everywhere([a, b], "/api/webhook/telegram", json.dumps(update).encode(),
                                   {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
            assert statuses == [200] * (2 * COPIES)
            assert shop.balance(token) == 110

            stripe = shop.buy(token, "stripe")
            session = dict(sim.stripe.state.sessions[stripe["checkout_url"].rsplit("/", 1)[-1]])
            session.update(status="complete", payment_status="paid", payment_intent="pi_once")
            event = {"id": "evt_once", "object": "event", "type": "checkout.session.completed",
                     "data": {"object": session}}
            body = json.dumps(event).encode()
            statuses = _everywhere([a, b], "/api/webhook/stripe", body,
                                   {"Stripe-Signature": stripe_signature(STRIPE_WHSEC, body)})
            assert statuses == [200] * (2 * COPIES)
            assert shop.balance(token) == 210
            status, history = call("GET", f"{b}/api/credits/history", token=token)
            assert [e["kind"] for e in history["entries"]] == ["purchase", "purchase", "initial_grant"]
            audit = shop.base("credits", "audit")
            assert audit.returncode == 0, audit.stdout + audit.stderr
