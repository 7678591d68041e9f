"""Replicate's and httpx's failures, translated into the core's error tree.

The mapping follows the token pool's needs: what is the token's fault (401/403, 402, 429,
5xx and the network) is a TokenError, what is the user's fault (422, a bad request) is
ProviderInputRejected, and a prediction Replicate does not show this token is NotFound.
Messages carry Replicate's title and detail, never the request headers (the token).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from datetime import UTC, datetime
from typing import Literal

import httpx
from replicate.exceptions import ReplicateError

from base_core.errors import (
    BaseError,
    NotFound,
    ProviderInputRejected,
    ProviderUnavailable,
    TokenOutOfCredit,
    TokenRateLimited,
    TokenRejected,
)

Operation = Literal["create", "get", "cancel", "secret"]

DEFAULT_RETRY_AFTER = 30.0
_RESETS_IN = re.compile(r"resets\s+in\s+~?\s*(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_DETAIL_FIELD = re.compile(r"^\s*-\s*([^:\s]+)\s*:\s*(.+?)\s*$")


def from_status(
    status: int,
    operation: Operation,
    subject: str,
    response: httpx.Response | None,
    detail: str | None = None,
    title: str | None = None,
) -> BaseError:
    """The core's error for an HTTP error answer; `response` when the raw one was kept."""
    body = _json_body(response)
    if detail is None:
        detail = _text(body.get("detail"))
    if title is None:
        title = _text(body.get("title"))
    summary = _summary(status, title, detail)
    if status in (401, 403):
        return TokenRejected(status, f"Replicate rejected the token: {summary}")
    if status == 402:
        return TokenOutOfCredit(f"Replicate account out of credit: {summary}")
    if status == 429:
        return TokenRateLimited(retry_after_of(response, detail), f"Replicate throttled: {summary}")
    if status == 404 and operation in ("get", "cancel"):
        return NotFound("prediction", subject)
    if operation == "create" and status in (400, 404, 413, 422):
        # The model reference or the input: another token would get the same answer.
        fields = _invalid_fields(body.get("invalid_fields")) or _fields_from_detail(detail)
        if status == 404 and not fields:
            fields = {"model": detail or "model not found"}
        reason = "; ".join(fields.values()) if fields else (detail or title)
        return ProviderInputRejected(fields, reason or "input validation failed")
    return ProviderUnavailable(f"Replicate answered {summary}", status=status)


def from_replicate_error(
    error: ReplicateError, operation: Operation, subject: str, response: httpx.Response | None
) -> BaseError:
    status = error.status if isinstance(error.status, int) else 0
    if response is not None and response.status_code != status:
        response = None  # a stale capture from an earlier attempt: don't trust its headers
    if not status:
        return ProviderUnavailable("Replicate answered an unreadable error")
    return from_status(status, operation, subject, response, error.detail, error.title)


def from_transport_error(error: Exception) -> ProviderUnavailable:
    if isinstance(error, (httpx.TimeoutException, TimeoutError)):
        return ProviderUnavailable("Replicate did not answer in time")
    # The class name only: some httpx messages repeat the URL, never the headers, but be terse.
    return ProviderUnavailable(f"could not reach Replicate ({type(error).__name__})")


def retry_after_of(response: httpx.Response | None, detail: str | None) -> float:
    """Seconds to wait: the `Retry-After` header, else the detail's "resets in ~30s", else 30."""
    if response is not None:
        header = (response.headers.get("retry-after") or "").strip()
        seconds = _retry_after_header(header) if header else None
        if seconds is not None:
            return seconds
    if detail:
        match = _RESETS_IN.search(detail)
        if match:
            seconds = float(match.group(1))
            if seconds > 0:
                return seconds
    return DEFAULT_RETRY_AFTER


def _retry_after_header(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # Wall time only to turn an HTTP date into a wait; the domain never reads it.
        seconds = (moment - datetime.now(UTC)).total_seconds()
        return max(seconds, 1.0)
    return seconds if seconds > 0 and math.isfinite(seconds) else None


def _json_body(response: httpx.Response | None) -> dict[str, object]:
    if response is None:
        return {}
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        return {}
    return data if isinstance(data, dict) else {}


def _invalid_fields(value: object) -> dict[str, str]:
    fields: dict[str, str] = {}
    if not isinstance(value, list):
        return fields
    for item in value:
        if isinstance(item, dict):
            name = _text(item.get("field")) or "input"
            fields[name] = _text(item.get("description")) or _text(item.get("type")) or "invalid"
    return fields


def _fields_from_detail(detail: str | None) -> dict[str, str]:
    """Replicate's 422 detail lists the fields as "- field: description" lines."""
    fields: dict[str, str] = {}
    for line in (detail or "").splitlines():
        match = _DETAIL_FIELD.match(line)
        if match:
            fields[match.group(1)] = match.group(2)
    return fields


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _summary(status: int, title: str | None, detail: str | None) -> str:
    parts = [str(status)]
    if title:
        parts.append(title)
    text = " ".join(parts)
    return f"{text}: {detail}" if detail else text
