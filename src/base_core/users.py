"""The people who spend credits."""

from __future__ import annotations

from datetime import datetime

import attrs

from base_core.events import RecordsEvents, UserRegistered, named, with_recorded
from base_core.frozen import replace
from base_core.text import strip_forbidden


@attrs.frozen(slots=False)
class User(RecordsEvents):
    id: str
    created_at: datetime
    telegram_id: int | None = None
    telegram_username: str | None = None
    telegram_first_name: str | None = None
    email: str | None = None

    @classmethod
    def register(cls, user_id: str, now: datetime, **profile: object) -> User:
        user = cls(id=user_id, created_at=now, **profile)  # type: ignore[arg-type]
        return with_recorded(user, (named(UserRegistered, at=now, user_id=user_id),))

    def with_telegram_profile(self, username: str | None, first_name: str | None) -> User | None:
        """The user with the profile Telegram last sent; None when it did not change."""
        if (self.telegram_username, self.telegram_first_name) == (username, first_name):
            return None
        return replace(self, telegram_username=username, telegram_first_name=first_name)


MAX_NAME_LENGTH = 256


def clean_name(value: str | None) -> str | None:
    """A display name as stored: without control characters (PostgreSQL refuses NUL, and
    escape sequences would reach operators' terminals), at most MAX_NAME_LENGTH long."""
    if value is None:
        return None
    cleaned = strip_forbidden(str(value))[:MAX_NAME_LENGTH]
    return cleaned or None


@attrs.frozen
class TelegramProfile:
    telegram_id: int
    username: str | None = attrs.field(default=None, converter=clean_name)
    first_name: str | None = attrs.field(default=None, converter=clean_name)


__all__ = ["TelegramProfile", "User"]
