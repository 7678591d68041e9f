"""Verifies Telegram Mini App initData (the HMAC scheme keyed by the bot token)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

import attrs

from base_core.errors import Unauthenticated

from ._common import Clock, epoch_seconds, system_clock

MAX_INIT_DATA_LENGTH = 16 * 1024
MAX_FIELDS = 64
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


@attrs.frozen
class TelegramUser:
    """The `user` of a verified initData, with the date Telegram signed it."""

    id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool | None = None
    photo_url: str | None = None
    auth_date: int = attrs.field(kw_only=True)  # unix seconds


def _secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _check_string(fields: Mapping[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def _hash(fields: Mapping[str, str], bot_token: str) -> str:
    return hmac.new(
        _secret_key(bot_token), _check_string(fields).encode(), hashlib.sha256
    ).hexdigest()


def sign_init_data(fields: Mapping[str, str], bot_token: str) -> str:
    """initData for `fields` signed the way Telegram signs it, `hash` appended last.

    `fields` are the decoded values (`user` already JSON text); a `signature` field, if
    given, is kept and covered by the hash like any other field.
    """
    if "hash" in fields:
        raise ValueError("fields must not contain a hash")
    for key, value in fields.items():
        if not key or "=" in key or "\n" in key or "\n" in value:
            raise ValueError(f"field {key!r} cannot be signed unambiguously")
    pairs = [*fields.items(), ("hash", _hash(fields, bot_token))]
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)


def _parse(init_data: object) -> dict[str, str]:
    if not isinstance(init_data, str) or not init_data or len(init_data) > MAX_INIT_DATA_LENGTH:
        raise Unauthenticated("malformed init data")
    try:
        init_data.encode()  # lone surrogates would otherwise fail later, in the HMAC
        pairs = parse_qsl(
            init_data,
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (ValueError, UnicodeError):
        raise Unauthenticated("malformed init data") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        # Newlines or "=" would let two different field sets share one check string.
        if not key or "=" in key or "\n" in key or "\n" in value:
            raise Unauthenticated("malformed init data")
        if key in fields:
            raise Unauthenticated("duplicate field in init data")
        fields[key] = value
    return fields


def _optional_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def _user(raw: str, auth_date: int) -> TelegramUser:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise Unauthenticated("malformed user in init data") from None
    if not isinstance(data, dict):
        raise Unauthenticated("malformed user in init data")
    user_id = data.get("id")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise Unauthenticated("malformed user in init data")
    is_premium = data.get("is_premium")
    return TelegramUser(
        id=user_id,
        auth_date=auth_date,
        first_name=_optional_str(data, "first_name"),
        last_name=_optional_str(data, "last_name"),
        username=_optional_str(data, "username"),
        language_code=_optional_str(data, "language_code"),
        is_premium=is_premium if isinstance(is_premium, bool) else None,
        photo_url=_optional_str(data, "photo_url"),
    )


class TelegramInitDataVerifier:
    """Checks initData against one bot's token, and how long ago Telegram signed it."""

    def __init__(
        self,
        bot_token: str,
        max_age_seconds: int = 3600,
        future_skew_seconds: int = 60,
        clock: Clock = system_clock,
    ) -> None:
        if not isinstance(bot_token, str) or not bot_token:
            raise ValueError("bot_token must not be empty")
        self._secret_key = _secret_key(bot_token)
        self._max_age = max_age_seconds
        self._future_skew = future_skew_seconds
        self._clock = clock

    def verify(self, init_data: str) -> TelegramUser:
        fields = _parse(init_data)
        given = fields.get("hash")
        if given is None or not _HEX_SHA256.fullmatch(given):
            raise Unauthenticated("init data is not signed")
        expected = hmac.new(
            self._secret_key, _check_string(fields).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise Unauthenticated("init data signature does not match")
        # Only signed data is read from here on.
        auth_date = self._auth_date(fields.get("auth_date"))
        raw_user = fields.get("user")
        if raw_user is None:
            raise Unauthenticated("init data has no user")
        return _user(raw_user, auth_date)

    def _auth_date(self, raw: str | None) -> int:
        if raw is None or not _UNIX_SECONDS.fullmatch(raw):
            raise Unauthenticated("init data has no valid auth_date")
        auth_date = int(raw)
        now = epoch_seconds(self._clock)
        if now - auth_date > self._max_age:
            raise Unauthenticated("init data is too old")
        if auth_date - now > self._future_skew:
            raise Unauthenticated("init data is dated in the future")
        return auth_date
