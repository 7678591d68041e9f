"""`base demo`'s payments: Telegram Stars and Stripe Checkout played by the local simulator.

Kept apart from the rest of the demo so the demo's other parts (its own Telegram bot,
printed initData) can change without touching this: `payment_demo(base_url)` runs the
payment simulator in a thread and gives the settings that point .base at it and the lines
that show a demo user how to buy a pack end to end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import attrs

from adapters.payments.stripe_checkout import WEBHOOK_PATH as STRIPE_WEBHOOK_PATH
from adapters.payments.telegram_stars import WEBHOOK_PATH as TELEGRAM_WEBHOOK_PATH
from payment_simulator import (
    DEFAULT_BOT_TOKEN,
    DEFAULT_STRIPE_KEY,
    DEFAULT_STRIPE_WEBHOOK_SECRET,
    PaymentSimulator,
)

DEMO_TELEGRAM_WEBHOOK_SECRET = "demo-telegram-webhook-secret"


@attrs.frozen
class PaymentDemo:
    simulator_url: str
    settings: dict[str, Any]  # Settings fields for the demo's service

    def instructions(self) -> list[str]:
        auth = '-H "Authorization: Bearer $TOKEN"'
        json_body = '-H "Content-Type: application/json"'
        return [
            "Buy credits (payments simulated locally, nothing is charged):",
            f"export PAY={self.simulator_url}",
            'curl -s "$BASE/api/credits/packs"',
            f"curl -s -X POST \"$BASE/api/credits/purchase\" {auth} {json_body} "
            "-d '{\"pack_id\": \"starter\", \"provider\": \"stripe\"}'",
            "  # open checkout_url in a browser and press Pay, or:",
            f"curl -s -X POST \"<checkout_url>\" {json_body} -d '{{}}'",
            f"curl -s -X POST \"$BASE/api/credits/purchase\" {auth} {json_body} "
            "-d '{\"pack_id\": \"starter\", \"provider\": \"telegram\"}'",
            f"curl -s -X POST \"$PAY/_sim/telegram/pay\" {json_body} "
            "-d '{\"invoice_link\": \"<invoice_link>\", \"user_id\": 1}'",
            f'curl -s "$BASE/api/credits/history" {auth}',
        ]


@contextlib.contextmanager
def payment_demo(base_url: str, bot_token: str = DEFAULT_BOT_TOKEN) -> Iterator[PaymentDemo]:
    """The payment simulator in a thread, sending Stripe events and Telegram updates to
    `base_url` (its webhook already registered, as `base telegram set-webhook` would)."""
    simulator = PaymentSimulator(
        bot_token, DEFAULT_STRIPE_KEY, DEFAULT_STRIPE_WEBHOOK_SECRET, f"{base_url}{STRIPE_WEBHOOK_PATH}"
    )
    with simulator.running_in_thread() as running:
        running.telegram.state.webhook_url = f"{base_url}{TELEGRAM_WEBHOOK_PATH}"
        running.telegram.state.webhook_secret = DEMO_TELEGRAM_WEBHOOK_SECRET
        running.telegram.state.allowed_updates = ["pre_checkout_query", "message"]
        yield PaymentDemo(running.base_url, {
            "telegram_bot_token": bot_token,
            "telegram_api_url": running.base_url,
            "telegram_webhook_secret": DEMO_TELEGRAM_WEBHOOK_SECRET,
            "stripe_secret_key": DEFAULT_STRIPE_KEY,
            "stripe_webhook_secret": DEFAULT_STRIPE_WEBHOOK_SECRET,
            "stripe_api_url": running.base_url,
        })
