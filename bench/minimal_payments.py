"""The yardstick for the payment webhooks: verify, find the purchase, credit once, answer.

Telegram: the secret header compared in constant time, the update read with `json`.
Stripe: the Stripe-Signature checked by hand (HMAC-SHA256 of "<t>.<body>", 5-minute
tolerance), the event read with `json`. Then one transaction, in .base's lock order: the
purchase locked, the price compared, the account locked, the credit entry inserted once
(its key is the provider's charge), the balance raised, the purchase marked paid. The
engine is the minimal app's (`request.app.state.env`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from litestar import Request, post
from litestar.exceptions import HTTPException

TOLERANCE_SECONDS = 300


@post("/api/webhook/telegram", status_code=200)
async def telegram(request: Request[Any, Any, Any]) -> dict[str, Any]:
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    if not hmac.compare_digest(given.encode(), os.environ["BENCH_TELEGRAM_SECRET"].encode()):
        raise HTTPException(status_code=401)
    message = json.loads(await request.body()).get("message") or {}
    paid = message.get("successful_payment")
    if paid:
        await _pay(request.app.state.env, "telegram", paid["invoice_payload"],
                   paid["telegram_payment_charge_id"], paid["currency"], paid["total_amount"],
                   paid.get("provider_payment_charge_id") or None, str(message["from"]["id"]))
    return {"received": True}


def _stripe_verified(body: bytes, header: str) -> None:
    parts = dict(item.partition("=")[::2] for item in header.split(","))
    timestamp = int(parts.get("t", "0"))
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        raise HTTPException(status_code=400)
    secret = os.environ["BENCH_STRIPE_SECRET"].encode()
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise HTTPException(status_code=400)


@post("/api/webhook/stripe", status_code=200)
async def stripe(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await request.body()
    _stripe_verified(body, request.headers.get("stripe-signature", ""))
    event = json.loads(body)
    session = event["data"]["object"]
    if event["type"] == "checkout.session.completed" and session.get("payment_status") == "paid":
        await _pay(request.app.state.env, "stripe", session["client_reference_id"], session["id"],
                   session["currency"], session["amount_total"], session.get("payment_intent"), None)
    return {"received": True}


async def _pay(env: Any, provider: str, purchase_id: str, charge_id: str, currency: str, amount: int,
               payment_ref: str | None, payer_ref: str | None) -> None:
    now = env.ts(datetime.now(UTC))
    async with env.engine.connect() as c:
        purchase = (await c.execute(sa.text(
            f"SELECT user_id, provider, status, credits, amount, currency, charge_id FROM purchases "
            f"WHERE id = :id{env.lock()}"), {"id": purchase_id})).first()
        if (purchase is None or purchase.provider != provider or purchase.charge_id == charge_id
                or purchase.status != "pending" or purchase.currency.lower() != currency.lower()
                or purchase.amount != amount):
            await c.rollback()
            return  # not ours, already done, or (never in the benchmark) held for review
        await c.execute(sa.text(
            f"SELECT balance FROM credit_accounts WHERE user_id = :u{env.lock()}"), {"u": purchase.user_id})
        credited = (await c.execute(sa.text(
            "INSERT INTO ledger_entries (key, user_id, kind, amount, reason, created_at, purchase_id) "
            "VALUES (:k, :u, 'grant', :a, 'purchase', :now, :p) ON CONFLICT DO NOTHING RETURNING key"),
            {"k": f"purchase:{provider}:{charge_id}", "u": purchase.user_id, "a": purchase.credits,
             "now": now, "p": purchase_id})).first()
        if credited is not None:
            await c.execute(sa.text(
                "UPDATE credit_accounts SET balance = balance + :a WHERE user_id = :u"),
                {"a": purchase.credits, "u": purchase.user_id})
        await c.execute(sa.text(
            "UPDATE purchases SET status = 'paid', charge_id = :c, payment_ref = :r, payer_ref = :pr, "
            "paid_at = :now, updated_at = :now, credited = :a WHERE id = :id"),
            {"c": charge_id, "r": payment_ref, "pr": payer_ref, "now": now, "a": purchase.credits,
             "id": purchase_id})
        await c.commit()


ROUTES = [telegram, stripe]
