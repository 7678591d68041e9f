"""The process's log lines: human-readable by default, one JSON object per line with
BASE_LOG_FORMAT=json.

Stdlib logging throughout, with a JSON formatter: every line carries the time, level,
logger and message, the request id and user id of the request it was written for (a
context variable the HTTP layer sets), and the fields the writer passed as `extra`
(`generation_id`, `prediction_id`, `status`...). Whatever the format, the values of the
configured secrets (Replicate tokens, signing secrets, the bot token...) are masked out of
every line, tracebacks included: a last line of defence, since nothing logs them on purpose.
"""

from __future__ import annotations

import contextvars
import logging
import random
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import attrs
import msgspec

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"
REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# A LogRecord's own attributes; anything else on a record came in through `extra`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName", "color_message",
}


@attrs.define
class RequestContext:
    """What the lines written while serving one request share. Mutable on purpose: the
    caller is known only once authentication ran, possibly in a task of its own."""

    request_id: str
    user_id: str | None = None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "base_request", default=None
)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-Id when it is a sane token, else a fresh one."""
    if header and _VALID_REQUEST_ID.fullmatch(header):
        return header
    # It names a request in the logs and is no secret: the interpreter's generator (reseeded
    # in each forked worker) spares a getrandom system call on every request.
    return f"{random.getrandbits(128):032x}"


def begin_request(request_id: str) -> contextvars.Token[RequestContext | None]:
    return _current.set(RequestContext(request_id))


def end_request(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)


def current_request() -> RequestContext | None:
    return _current.get()


def bind_user(user_id: str) -> None:
    """Name the signed-in caller on the lines of the current request."""
    context = _current.get()
    if context is not None:
        context.user_id = user_id


class ContextFilter(logging.Filter):
    """Puts the request's id and user on each record (unless the writer gave its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is not None:
            if getattr(record, "request_id", None) is None:
                record.request_id = context.request_id
            if getattr(record, "user_id", None) is None and context.user_id is not None:
                record.user_id = context.user_id
        return True


class _Masking:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class TextFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(TEXT_FORMAT)
        self._masking = _Masking(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self._masking.mask(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the request's context and
    the record's extra fields; a traceback as `exception`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._masking = _Masking(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return self._masking.mask(_ENCODER.encode(line).decode())


# About a tenth of json.dumps's time with `default=str` on every line, and it takes what
# json.dumps refused (bytes, dates or objects as keys): anything else becomes its str().
_ENCODER = msgspec.json.Encoder(enc_hook=str)


_HANDLER_NAME = "base"


def configure(log_format: str = "text", secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Our lines on stderr in the chosen format; calling it again replaces our handler."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter(secrets) if log_format == "json" else TextFormatter(secrets))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)


__all__ = [
    "REQUEST_ID_HEADER",
    "ContextFilter",
    "JsonFormatter",
    "RequestContext",
    "TextFormatter",
    "begin_request",
    "bind_user",
    "configure",
    "current_request",
    "end_request",
    "request_id_from",
]
