"""The people who spend credits."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.define
class User:
    id: str
    created_at: datetime
    telegram_id: int | None = None
    telegram_username: str | None = None
    telegram_first_name: str | None = None
    email: str | None = None

    def update_telegram_profile(self, username: str | None, first_name: str | None) -> bool:
        """Keep the profile Telegram last sent; return whether it changed."""
        changed = (self.telegram_username, self.telegram_first_name) != (username, first_name)
        self.telegram_username = username
        self.telegram_first_name = first_name
        return changed


MAX_NAME_LENGTH = 256


def clean_name(value: str | None) -> str | None:
    """A display name as stored: without control characters (PostgreSQL refuses NUL, and
    escape sequences would reach operators' terminals), at most MAX_NAME_LENGTH long."""
    if value is None:
        return None
    cleaned = "".join(ch for ch in str(value) if ch.isprintable())[:MAX_NAME_LENGTH]
    return cleaned or None


@attrs.frozen
class TelegramProfile:
    telegram_id: int
    username: str | None = attrs.field(default=None, converter=clean_name)
    first_name: str | None = attrs.field(default=None, converter=clean_name)


__all__ = ["TelegramProfile", "User"]
