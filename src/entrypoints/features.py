"""Features that depend on settings: which are off, and the error that names what to set.

A feature whose settings are missing is not an outage: its routes answer 503 with a
problem that names the missing setting (`base_core.errors.NotConfigured`), and the
service says so once when it starts.
"""

from __future__ import annotations

import logging

import attrs

from base_core.errors import NotConfigured
from entrypoints.settings import Settings


@attrs.frozen
class Feature:
    name: str
    settings: tuple[str, ...]
    all_of: bool = False  # the feature needs every setting, not any one of them

    def not_configured(self) -> NotConfigured:
        return NotConfigured(self.name, self.settings, all_of=self.all_of)

    def describe(self) -> str:
        return (" and " if self.all_of else " or ").join(self.settings)


TELEGRAM = Feature("Telegram sign-in", ("BASE_TELEGRAM_BOT_TOKEN",))
SUPABASE = Feature("Supabase sign-in", ("BASE_SUPABASE_URL", "BASE_SUPABASE_JWT_SECRET"))
STARS = Feature(
    "Payments in Telegram Stars", ("BASE_TELEGRAM_BOT_TOKEN", "BASE_TELEGRAM_WEBHOOK_SECRET"), all_of=True
)
STRIPE = Feature(
    "Payments with Stripe Checkout", ("BASE_STRIPE_SECRET_KEY", "BASE_STRIPE_WEBHOOK_SECRET"), all_of=True
)


def unconfigured(settings: Settings) -> list[Feature]:
    """The features `settings` leave switched off."""
    off: list[Feature] = []
    if not settings.telegram_bot_token:
        off.append(TELEGRAM)
    if not (settings.supabase_url or settings.supabase_jwt_secret):
        off.append(SUPABASE)
    if not settings.sells_with_telegram:
        off.append(STARS)
    if not settings.sells_with_stripe:
        off.append(STRIPE)
    return off


def announce_unconfigured(settings: Settings, log: logging.Logger) -> None:
    """One line per switched-off feature, at start-up."""
    for feature in unconfigured(settings):
        log.warning("%s is off: set %s to turn it on", feature.name, feature.describe())


__all__ = ["STARS", "STRIPE", "SUPABASE", "TELEGRAM", "Feature", "announce_unconfigured", "unconfigured"]
