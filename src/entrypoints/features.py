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

    def not_configured(self) -> NotConfigured:
        return NotConfigured(self.name, self.settings)


TELEGRAM = Feature("Telegram sign-in", ("BASE_TELEGRAM_BOT_TOKEN",))
SUPABASE = Feature("Supabase sign-in", ("BASE_SUPABASE_URL", "BASE_SUPABASE_JWT_SECRET"))


def unconfigured(settings: Settings) -> list[Feature]:
    """The features `settings` leave switched off."""
    off: list[Feature] = []
    if not settings.telegram_bot_token:
        off.append(TELEGRAM)
    if not (settings.supabase_url or settings.supabase_jwt_secret):
        off.append(SUPABASE)
    return off


def announce_unconfigured(settings: Settings, log: logging.Logger) -> None:
    """One line per switched-off feature, at start-up."""
    for feature in unconfigured(settings):
        log.warning("%s is off: set %s to turn it on", feature.name, " or ".join(feature.settings))


__all__ = ["SUPABASE", "TELEGRAM", "Feature", "announce_unconfigured", "unconfigured"]
