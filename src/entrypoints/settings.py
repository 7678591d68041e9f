"""The service's settings, read once from BASE_* environment variables.

Every value is checked here so a bad deployment fails at start with the variable's name,
not later inside a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./base.db"
MEMORY_DATABASE_URL = "memory://"
DEFAULT_REPLICATE_BASE_URL = "https://api.replicate.com"


class SettingsError(ValueError):
    """A BASE_* variable has a value the service cannot use."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


@attrs.frozen
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    replicate_tokens: tuple[str, ...] = attrs.field(default=(), repr=False)
    replicate_base_url: str = DEFAULT_REPLICATE_BASE_URL
    replicate_webhook_secret: str | None = attrs.field(default=None, repr=False)
    public_url: str | None = None
    supabase_jwt_secret: str | None = attrs.field(default=None, repr=False)
    supabase_url: str | None = None
    telegram_bot_token: str | None = attrs.field(default=None, repr=False)
    session_secret: str | None = attrs.field(default=None, repr=False)
    initial_credits: int = 100
    admin_user_ids: frozenset[str] = frozenset()
    models_file: Path | None = None
    reconcile_after_seconds: float = 60.0
    # A pending generation this old is voided: longer than a create (with failover) takes.
    pending_after_seconds: float = 120.0
    max_in_flight_per_user: int = 8
    output_dir: Path = Path("./outputs")
    # Public root the stored outputs are served from (`{output_url}/outputs/...`).
    output_url: str | None = None
    # Lets the offline demo pass the simulator's loopback image URLs on to "Replicate".
    allow_private_image_urls: bool = False

    @property
    def is_memory(self) -> bool:
        return self.database_url == MEMORY_DATABASE_URL

    @property
    def webhook_url(self) -> str | None:
        return f"{self.public_url}/api/webhook/replicate" if self.public_url else None

    @property
    def outputs_base_url(self) -> str:
        """BASE_OUTPUT_URL, else BASE_PUBLIC_URL, else `base serve`'s default address."""
        return self.output_url or self.public_url or "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        return cls(
            database_url=env.database_url("BASE_DATABASE_URL"),
            replicate_tokens=env.csv("BASE_REPLICATE_TOKENS"),
            replicate_base_url=env.url("BASE_REPLICATE_BASE_URL") or DEFAULT_REPLICATE_BASE_URL,
            replicate_webhook_secret=env.webhook_secret("BASE_REPLICATE_WEBHOOK_SECRET"),
            public_url=env.url("BASE_PUBLIC_URL"),
            supabase_jwt_secret=env.secret("BASE_SUPABASE_JWT_SECRET"),
            supabase_url=env.url("BASE_SUPABASE_URL"),
            telegram_bot_token=env.text("BASE_TELEGRAM_BOT_TOKEN"),
            session_secret=env.secret("BASE_SESSION_SECRET"),
            initial_credits=env.integer("BASE_INITIAL_CREDITS", 100, low=0),
            admin_user_ids=frozenset(env.csv("BASE_ADMIN_USER_IDS")),
            models_file=env.existing_file("BASE_MODELS_FILE"),
            reconcile_after_seconds=env.number("BASE_RECONCILE_AFTER_SECONDS", 60.0),
            pending_after_seconds=env.number("BASE_PENDING_AFTER_SECONDS", 120.0),
            max_in_flight_per_user=env.integer("BASE_MAX_IN_FLIGHT_PER_USER", 8, low=1),
            output_dir=Path(env.text("BASE_OUTPUT_DIR") or "./outputs"),
            output_url=env.url("BASE_OUTPUT_URL"),
            allow_private_image_urls=env.flag("BASE_ALLOW_PRIVATE_IMAGE_URLS"),
        )


class _Env:
    """Typed reads of single variables; an empty value counts as unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.text(name) or ""
        return tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))

    def url(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        if not value.startswith(("http://", "https://")) or "://" == value[-3:]:
            raise SettingsError(name, "must be an http(s) URL")
        return value.rstrip("/")

    def database_url(self, name: str) -> str:
        value = self.text(name) or DEFAULT_DATABASE_URL
        if value == MEMORY_DATABASE_URL or value.startswith(("sqlite", "postgresql")):
            return value
        raise SettingsError(name, "must be sqlite+aiosqlite:///..., postgresql+asyncpg://... or memory://")

    def secret(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and len(value) < 32:
            raise SettingsError(name, "must be at least 32 characters long")
        return value

    def webhook_secret(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not value.startswith("whsec_"):
            raise SettingsError(name, "must start with whsec_")
        return value

    def integer(self, name: str, default: int, low: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(name, f"must be a whole number, not {value!r}") from None
        if number < low:
            raise SettingsError(name, f"must be at least {low}")
        return number

    def number(self, name: str, default: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(name, f"must be a number of seconds, not {value!r}") from None
        if not 0 < number < 86_400:
            raise SettingsError(name, "must be more than 0 and less than a day")
        return number

    def flag(self, name: str) -> bool:
        value = (self.text(name) or "false").lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, "must be true or false")

    def existing_file(self, name: str) -> Path | None:
        value = self.text(name)
        if value is None:
            return None
        path = Path(value)
        if not path.is_file():
            raise SettingsError(name, f"{value} is not a readable file")
        if path.suffix.lower() not in (".json", ".toml"):
            raise SettingsError(name, "must be a .json or .toml file")
        return path


__all__ = ["DEFAULT_DATABASE_URL", "MEMORY_DATABASE_URL", "Settings", "SettingsError"]
