"""The payment webhooks' requests: Telegram's `successful_payment` update and Stripe's
`checkout.session.completed` event, each paying a different seeded pending purchase.

They are shaped as the providers send them (and as `payment_simulator` sends them), with
the secret header (Telegram) or a Stripe-Signature made with the endpoint secret, and
prepared before the clock starts (Stripe's 5-minute tolerance is far off).
"""

from __future__ import annotations

import json
import time

from bench import seed
from bench.requests import raw
from payment_simulator.stripe import sign

TELEGRAM_PATH = "/api/webhook/telegram"
STRIPE_PATH = "/api/webhook/stripe"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def telegram(secret: str, first: int, count: int) -> list[bytes]:
    now = int(time.time())
    amount, currency = seed.PACK["telegram"]
    out = []
    for n in range(first, first + count):
        payer = 100_000 + n
        update = {
            "update_id": n,
            "message": {
                "message_id": n, "date": now,
                "from": {"id": payer, "is_bot": False, "first_name": "Bench"},
                "chat": {"id": payer, "type": "private", "first_name": "Bench"},
                "successful_payment": {
                    "currency": currency, "total_amount": amount,
                    "invoice_payload": seed.purchase_id("telegram", n),
                    "telegram_payment_charge_id": f"stxbench{n:010d}",
                    "provider_payment_charge_id": "",
                },
            },
        }
        headers = {"Content-Type": "application/json", TELEGRAM_SECRET_HEADER: secret}
        out.append(raw("POST", TELEGRAM_PATH, headers, json.dumps(update).encode()))
    return out


def stripe(secret: str, first: int, count: int) -> list[bytes]:
    now = int(time.time())
    amount, currency = seed.PACK["stripe"]
    out = []
    for n in range(first, first + count):
        purchase = seed.purchase_id("stripe", n)
        session = {
            "id": f"cs_test_bench{n:010d}", "object": "checkout.session", "mode": "payment",
            "status": "complete", "payment_status": "paid", "amount_total": amount,
            "currency": currency, "client_reference_id": purchase,
            "metadata": {"purchase_id": purchase, "pack_id": seed.PACK["id"]},
            "payment_intent": f"pi_bench{n:010d}", "livemode": False, "created": now,
            "expires_at": now + 86_400, "url": None,
            "success_url": "https://studio.example/?status=success",
            "cancel_url": "https://studio.example/?status=cancel",
        }
        event = {
            "id": f"evt_bench{n:010d}", "object": "event", "api_version": "2025-01-27.acacia",
            "created": now, "type": "checkout.session.completed", "livemode": False,
            "pending_webhooks": 1, "data": {"object": session},
            "request": {"id": None, "idempotency_key": None},
        }
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(secret, body, now)}
        out.append(raw("POST", STRIPE_PATH, headers, body))
    return out
