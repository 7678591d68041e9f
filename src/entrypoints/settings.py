"""The service's settings, read once from BASE_* environment variables.

Every value is checked here so a bad deployment fails at start with the variable's name,
not later inside a request. `Settings` is a msgspec Struct whose fields are named after
their variables; `from_env` hands the environment to `msgspec.convert` (`strict=False`, so
"8" is an int and "true" a bool), which checks the types and the bounds written on the
fields. What msgspec cannot say is done around it: an empty value counts as unset,
comma-separated lists are split, yes/on/no/off are flags, and a models file must exist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from adapters.replicate.inference import DEFAULT_BASE_URL as DEFAULT_REPLICATE_BASE_URL

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./base.db"
MEMORY_DATABASE_URL = "memory://"
PREFIX = "BASE_"

_Url = Annotated[str, msgspec.Meta(pattern=r"^https?://.+", description="an http(s) URL")]
_Secret = Annotated[str, msgspec.Meta(min_length=32, description="at least 32 characters")]
_Seconds = Annotated[float, msgspec.Meta(gt=0, lt=86_400, description="seconds, under a day")]
_DatabaseUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(memory://$|sqlite|postgresql)",
        description="sqlite+aiosqlite:///..., postgresql+asyncpg://... or memory://",
    ),
]
_FLAG_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}
_AT_FIELD = re.compile(r"^(?P<message>.*) - at `\$\.(?P<name>[A-Z0-9_]+)`")
_SECRET_FIELDS = frozenset(
    {"replicate_tokens", "replicate_webhook_secret", "supabase_jwt_secret", "telegram_bot_token", "session_secret"}
)


class SettingsError(ValueError):
    """A BASE_* variable has a value the service cannot use."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def _variable(field: str) -> str:
    return PREFIX + field.upper()


class Settings(msgspec.Struct, frozen=True, kw_only=True, rename=_variable):
    database_url: _DatabaseUrl = DEFAULT_DATABASE_URL
    replicate_tokens: tuple[str, ...] = ()
    replicate_base_url: _Url = DEFAULT_REPLICATE_BASE_URL
    replicate_webhook_secret: Annotated[str, msgspec.Meta(pattern=r"^whsec_")] | None = None
    public_url: _Url | None = None
    supabase_jwt_secret: _Secret | None = None
    supabase_url: _Url | None = None
    telegram_bot_token: str | None = None
    session_secret: _Secret | None = None
    initial_credits: Annotated[int, msgspec.Meta(ge=0)] = 100
    admin_user_ids: frozenset[str] = frozenset()
    models_file: Path | None = None
    reconcile_after_seconds: _Seconds = 60.0
    # A pending generation this old is voided: longer than a create (with failover) takes.
    pending_after_seconds: _Seconds = 120.0
    max_in_flight_per_user: Annotated[int, msgspec.Meta(ge=1)] = 8
    output_dir: Path = Path("./outputs")
    # Public root the stored outputs are served from (`{output_url}/outputs/...`).
    output_url: _Url | None = None
    # Lets the offline demo pass the simulator's loopback image URLs on to "Replicate".
    allow_private_image_urls: bool = False
    # Live status: open event streams per user (429 beyond); how often streams re-read the
    # database when the feed cannot tell them (SQLite, a PostgreSQL listener reconnecting);
    # the keep-alive comment's period; the poll cache (turn it off when several processes
    # serve one SQLite file: only PostgreSQL tells one process what another changed).
    live_streams_per_user: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 8
    live_poll_seconds: _Seconds = 1.0
    live_keepalive_seconds: _Seconds = 15.0
    live_cache: bool = True

    def __post_init__(self) -> None:
        path = self.models_file
        if path is not None:
            if not path.is_file():
                raise SettingsError(_variable("models_file"), f"{path} is not a readable file")
            if path.suffix.lower() not in (".json", ".toml"):
                raise SettingsError(_variable("models_file"), "must be a .json or .toml file")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name in _SECRET_FIELDS and getattr(self, name) else repr(getattr(self, name))}"
            for name in self.__struct_fields__
        )
        return f"Settings({shown})"

    @property
    def is_memory(self) -> bool:
        return self.database_url == MEMORY_DATABASE_URL

    @property
    def outputs_base_url(self) -> str:
        """BASE_OUTPUT_URL, else BASE_PUBLIC_URL, else `base serve`'s default address."""
        return self.output_url or self.public_url or "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        raw = _prepared(os.environ if environ is None else environ)
        try:
            return msgspec.convert(raw, cls, strict=False, dec_hook=_decode_path)
        except msgspec.ValidationError as error:
            if isinstance(error.__cause__, SettingsError):
                raise error.__cause__ from None
            raise _named(error) from None


def _prepared(environ: Mapping[str, str]) -> dict[str, Any]:
    """The BASE_* values msgspec should see: unset when empty, lists split, flags as words
    msgspec reads, URLs without a trailing slash."""
    prepared: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        value = environ.get(field.encode_name, "").strip()
        if not value:
            continue
        kind = _kind(field.type)
        if kind in (tuple, frozenset):
            prepared[field.encode_name] = list(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
        elif kind is bool:
            prepared[field.encode_name] = _FLAG_WORDS.get(value.lower(), value)
        elif field.name.endswith("_url") and value.startswith("http"):
            prepared[field.encode_name] = value.rstrip("/")
        else:
            prepared[field.encode_name] = value
    return prepared


def _kind(annotation: Any) -> Any:
    return getattr(annotation, "__origin__", annotation)


def _decode_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def _named(error: msgspec.ValidationError) -> SettingsError:
    """msgspec's message (`Expected `int` >= 0 - at `$.BASE_X``) as the variable's error."""
    found = _AT_FIELD.match(str(error))
    if found is None:
        return SettingsError("BASE_*", str(error))
    return SettingsError(found["name"], found["message"].replace("Expected", "expected", 1))


__all__ = ["DEFAULT_DATABASE_URL", "MEMORY_DATABASE_URL", "Settings", "SettingsError"]
