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


@attrs.frozen
class TelegramProfile:
    telegram_id: int
    username: str | None = None
    first_name: str | None = None


__all__ = ["TelegramProfile", "User"]
