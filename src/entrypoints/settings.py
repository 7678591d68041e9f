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
from typing import Annotated, Any, Literal

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
_HostPort = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$",
        description="host:port, e.g. 127.0.0.1:9464",
    ),
]
_LogFormat = Literal["text", "json"]
_FLAG_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}
_AT_FIELD = re.compile(r"^(?P<message>.*) - at `\$\.(?P<name>[A-Z0-9_]+)`")
_SECRET_FIELDS = frozenset(
    {"replicate_tokens", "replicate_webhook_secret", "supabase_jwt_secret", "telegram_bot_token", "session_secret",
     "telegram_webhook_secret", "stripe_secret_key", "stripe_webhook_secret", "metrics_token"}
)
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_STRIPE_API_URL = "https://api.stripe.com"
# Telegram's rule for a webhook's secret_token.
_TelegramSecret = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,256}$", description="1-256 of A-Za-z0-9_-")]


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
    replicate_webhook_secret: Annotated[str, msgspec.Meta(pattern=r"^whsec_", description="a whsec_... secret")] | None = None
    public_url: _Url | None = None
    supabase_jwt_secret: _Secret | None = None
    supabase_url: _Url | None = None
    # The project's public anon key, for the studio's email sign-in (not a secret).
    supabase_anon_key: str | None = None
    telegram_bot_token: (
        Annotated[str, msgspec.Meta(pattern=r"^[0-9]+:[A-Za-z0-9_-]+$", description="a bot token, <digits>:<text>")]
        | None
    ) = None
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
    # Credit packs and the two ways to pay for them.
    credit_packs_file: Path | None = None
    telegram_api_url: _Url = DEFAULT_TELEGRAM_API_URL
    telegram_webhook_secret: _TelegramSecret | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_url: _Url = DEFAULT_STRIPE_API_URL
    # Operating the service (README "Operating .base").
    log_format: _LogFormat = "text"
    metrics_bind: _HostPort | None = None  # a listener of its own serving only /metrics
    metrics_token: _Secret | None = None  # /metrics on the API with this bearer token
    shutdown_seconds: _Seconds = 20.0  # how long a stop waits for requests and background work
    # Where copies and uploads are kept: file://<dir> (default: BASE_OUTPUT_DIR) or
    # s3://<bucket>/<prefix>, with the S3 endpoint and region (AWS_* keys from the env).
    output_store: Annotated[str, msgspec.Meta(pattern=r"^(file://.+|s3://[^/]+(/.*)?)$")] | None = None
    s3_endpoint_url: _Url | None = None
    s3_region: str | None = None
    # Link a private bucket's objects with URLs signed for this long instead.
    output_presign_seconds: Annotated[float, msgspec.Meta(gt=0, le=604_800)] | None = None
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=1, le=100 * 1024 * 1024)] = 10 * 1024 * 1024
    # Live status: open event streams per user (429 beyond); how often streams re-read the
    # database when the feed cannot tell them (SQLite, a PostgreSQL listener reconnecting);
    # the keep-alive comment's period; the poll cache (turn it off when several processes
    # serve one SQLite file: only PostgreSQL tells one process what another changed).
    live_streams_per_user: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 8
    live_poll_seconds: _Seconds = 1.0
    live_keepalive_seconds: _Seconds = 15.0
    live_cache: bool = True

    def __post_init__(self) -> None:
        if self.metrics_bind is not None and not 0 < int(self.metrics_bind.rsplit(":", 1)[1]) < 65536:
            raise SettingsError(_variable("metrics_bind"), "the port must be between 1 and 65535")
        path = self.models_file
        if path is not None:
            if not path.is_file():
                raise SettingsError(_variable("models_file"), f"{path} is not a readable file")
            if path.suffix.lower() not in (".json", ".toml"):
                raise SettingsError(_variable("models_file"), "must be a .json or .toml file")
        _check_data_file("credit_packs_file", self.credit_packs_file)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name in _SECRET_FIELDS and getattr(self, name) else repr(getattr(self, name))}"
            for name in self.__struct_fields__
        )
        return f"Settings({shown})"

    def secret_values(self) -> tuple[str, ...]:
        """The secrets among the settings, which no log line may show."""
        values: list[str] = []
        for name in sorted(_SECRET_FIELDS):
            value = getattr(self, name)
            if isinstance(value, str):
                values.append(value)
            elif isinstance(value, tuple):
                values.extend(value)
        return tuple(values)

    @property
    def sells_with_telegram(self) -> bool:
        """Stars need the bot (to make invoices) and the webhook secret (to hear payments)."""
        return bool(self.telegram_bot_token and self.telegram_webhook_secret)

    @property
    def sells_with_stripe(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)

    @property
    def is_memory(self) -> bool:
        return self.database_url == MEMORY_DATABASE_URL

    @property
    def outputs_base_url(self) -> str:
        """BASE_OUTPUT_URL, else BASE_PUBLIC_URL, else `base serve`'s default address."""
        return self.output_url or self.public_url or "http://127.0.0.1:8000"

    @property
    def output_store_url(self) -> str:
        """BASE_OUTPUT_STORE, else the local directory BASE_OUTPUT_DIR."""
        return self.output_store or f"file://{self.output_dir}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        raw = _prepared(os.environ if environ is None else environ)
        try:
            return msgspec.convert(raw, cls, strict=False, dec_hook=_decode_path)
        except msgspec.ValidationError as error:
            if isinstance(error.__cause__, SettingsError):
                raise error.__cause__ from None
            raise _named(error) from None


def _check_data_file(field: str, path: Path | None) -> None:
    if path is None:
        return
    if not path.is_file():
        raise SettingsError(_variable(field), f"{path} is not a readable file")
    if path.suffix.lower() not in (".json", ".toml"):
        raise SettingsError(_variable(field), "must be a .json or .toml file")


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
    message = found["message"].replace("Expected", "expected", 1)
    expects = _expects(found["name"])
    if expects is None:
        return SettingsError(found["name"], message)
    if message.startswith("Invalid enum value"):  # msgspec's words would repeat the value
        return SettingsError(found["name"], f"expected {expects}")
    # msgspec's precise words, and the field's own for whoever does not read regexes.
    return SettingsError(found["name"], f"{message} ({expects})")


def _expects(variable: str) -> str | None:
    """What a variable's annotation says it takes: its description, or its choices."""
    import typing

    for name, hint in typing.get_type_hints(Settings, include_extras=True).items():
        if _variable(name) != variable:
            continue
        for part in (hint, *typing.get_args(hint)):
            if typing.get_origin(part) is Literal:
                return "one of " + ", ".join(str(choice) for choice in typing.get_args(part))
            for meta in getattr(part, "__metadata__", ()):
                if isinstance(meta, msgspec.Meta) and meta.description:
                    return meta.description
    return None


__all__ = ["DEFAULT_DATABASE_URL", "MEMORY_DATABASE_URL", "Settings", "SettingsError"]
