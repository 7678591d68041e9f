"""A local stand-in for the payment part of Telegram's Bot API and for Stripe Checkout.

    with PaymentSimulator(stripe_webhook_url=f"{base}/api/webhook/stripe").running_in_thread() as sim:
        # BASE_TELEGRAM_API_URL=sim.base_url, BASE_STRIPE_API_URL=sim.base_url
        ...

See `app.py` for the routes: the providers' own, and `/_sim/...` to pay, expire, refund
and send any update or event (signed like Stripe's, delivered with retries).
"""

from payment_simulator.server import (
    DEFAULT_BOT_TOKEN,
    DEFAULT_STRIPE_KEY,
    DEFAULT_STRIPE_WEBHOOK_SECRET,
    PaymentSimulator,
    main,
)
from payment_simulator.stripe import sign as stripe_signature

__all__ = [
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_STRIPE_KEY",
    "DEFAULT_STRIPE_WEBHOOK_SECRET",
    "PaymentSimulator",
    "main",
    "stripe_signature",
]
