"""Payment providers: Telegram Stars through the Bot API, Stripe Checkout through `stripe`.

Each adapter is a `PaymentGateway` (checkout, refund) plus the reading of its provider's
webhooks into the core's `PaymentNews`; provider errors become PaymentProviderError, and
secrets (the bot token in Telegram's URLs, Stripe's keys) never reach a message or a log.
"""

from adapters.payments.stripe_checkout import StripeCheckout, StripeEvent
from adapters.payments.telegram_stars import PreCheckoutQuery, TelegramStars, read_update

__all__ = ["PreCheckoutQuery", "StripeCheckout", "StripeEvent", "TelegramStars", "read_update"]
