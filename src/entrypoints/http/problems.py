"""Errors as RFC 9457 problem+json, from one mapping of the core's error tree.

Litestar's ProblemDetailsPlugin renders them: the core's errors and Litestar's own
(validation, routing, body size) are turned into a `ProblemDetailsException` here, with
the title from `http.HTTPStatus` and the extension fields (`field`, `needed`,
`available`, `retry_after`) and headers (`Retry-After`, `WWW-Authenticate`) the API
promises. Anything else goes through `unexpected_error`, the one handler of our own: it
needs the request to log the traceback, which is never sent to the client (a bare 500).
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)

from base_core import errors
from entrypoints.http.schemas import Problem

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("base.http")

# Most specific first: the first class the error is an instance of wins.
STATUS_OF: tuple[tuple[type[errors.BaseError], int], ...] = (
    (errors.ProviderInputRejected, 422),
    (errors.UnsupportedMediaType, 415),
    (errors.TooLarge, 413),
    (errors.InvalidRequest, 400),
    (errors.Unauthenticated, 401),
    (errors.InsufficientCredits, 402),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.TooManyInFlight, 429),
    (errors.NoTokenAvailable, 503),
    (errors.ProviderError, 503),
    (errors.NotConfigured, 503),
    (errors.InfrastructureError, 503),
)


def _type_uri(status: int) -> str:
    return f"https://httpstatuses.io/{status}"


def title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(status: int, detail: str, **extra: Any) -> Problem:
    return Problem(type=_type_uri(status), title=title(status), status=status, detail=detail, **extra)


def _retry_after(seconds: float | None) -> int | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(1, math.ceil(seconds))


def _from_core(error: errors.BaseError) -> Problem:
    status = next((code for cls, code in STATUS_OF if isinstance(error, cls)), 500)
    if status == 500:
        return problem(500, "the server could not complete the request")
    extra: dict[str, Any] = {}
    detail = error.message
    if isinstance(error, errors.InvalidRequest):
        extra["field"] = error.field
    elif isinstance(error, errors.InsufficientCredits):
        extra.update(needed=error.needed, available=error.available)
    elif isinstance(error, errors.TooManyInFlight):
        extra["retry_after"] = _retry_after(error.retry_after)
    elif isinstance(error, errors.NoTokenAvailable):
        extra["retry_after"] = _retry_after(error.retry_after if error.retry_after else 60.0)
    elif isinstance(error, errors.ProviderError):
        detail = "Replicate could not take the request; try again shortly"
        extra["retry_after"] = 30
    elif isinstance(error, errors.NotConfigured):
        extra["setting"] = ", ".join(error.settings)  # the operator's fix, not a secret
    elif isinstance(error, errors.InfrastructureError):
        detail = "a dependency of the service is unavailable"  # never the driver's words
    return problem(status, detail, **extra)


def _field_of(error: ValidationException) -> str | None:
    """The offending field from Litestar's validation details.

    Query and header errors carry the parameter as `key`; body errors carry `key: data`
    and name the field in msgspec's message (``at `$.settings.x` `` or
    ``missing required field `x` ``).
    """
    details = error.extra if isinstance(error.extra, list) else []
    for item in details:
        if not isinstance(item, dict):
            continue
        key = item.get("key")
        message = str(item.get("message", ""))
        if isinstance(key, str) and key and key != "data":
            return key
        if "at `$." in message:
            return message.split("at `$.", 1)[1].split("`", 1)[0]
        if "missing required field `" in message:
            return message.split("missing required field `", 1)[1].split("`", 1)[0]
        if key == "data":
            return "body"
    return None


def _from_http(error: HTTPException) -> Problem:
    status = error.status_code
    if isinstance(error, ValidationException) or status == 400:
        field = _field_of(error) if isinstance(error, ValidationException) else None
        detail = error.detail or "the request is not valid"
        if isinstance(error.extra, list) and error.extra and isinstance(error.extra[0], dict):
            detail = str(error.extra[0].get("message") or detail)
        return problem(400, detail, field=field)
    if status >= 500:
        return problem(status, "the server could not complete the request")
    return problem(status, error.detail or title(status))


def to_problem(error: Exception) -> Problem:
    if isinstance(error, errors.BaseError):
        return _from_core(error)
    if isinstance(error, HTTPException):
        return _from_http(error)
    if isinstance(error, RecursionError):
        # msgspec gives up on JSON nested deeper than it recurses (`[[[[...]]]]`); the
        # client's fault, and the body limit keeps it cheap.
        return problem(400, "the request body is nested too deeply", field="body")
    return problem(500, "the server could not complete the request")


def to_exception(error: Exception) -> ProblemDetailsException:
    """The problem `error` stands for, as the exception the plugin renders."""
    body = to_problem(error)
    headers: dict[str, str] = {}
    if isinstance(error, HTTPException) and error.headers:
        headers.update(error.headers)
    if body.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="base"'
    if body.retry_after is not None:
        headers["Retry-After"] = str(body.retry_after)
    extensions = {
        name: value
        for name, value in msgspec.structs.asdict(body).items()
        if value is not None and name not in _MEMBERS
    }
    return ProblemDetailsException(
        status_code=body.status,
        detail=body.detail,
        title=body.title,
        type_=body.type,
        extra=extensions or None,
        headers=headers or None,
    )


_MEMBERS = frozenset({"type", "title", "status", "detail"})


def unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Whatever neither the core nor Litestar raised: logged with its traceback, and a 500
    without it (or a 400 for a body nested deeper than msgspec recurses)."""
    problem_exception = to_exception(error)
    if problem_exception.status_code == 500:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_exception.to_response(request)


def _from_mapped(error: Exception) -> ProblemDetailsException:
    problem_exception = to_exception(error)
    if problem_exception.status_code == 500:
        log.error("unhandled %s", type(error).__name__, exc_info=error)
    return problem_exception


PROBLEM_DETAILS = ProblemDetailsPlugin(
    ProblemDetailsConfig(
        exception_to_problem_detail_map={errors.BaseError: _from_mapped, HTTPException: _from_mapped},
    )
)
EXCEPTION_HANDLERS = {Exception: unexpected_error}

DESCRIPTIONS = {
    400: "A parameter or a field of the body is invalid (`field` names it)",
    401: "Missing, invalid or expired bearer token",
    402: "Not enough credits (`needed`, `available`)",
    403: "Authenticated, but not an administrator",
    404: "No such resource (or it belongs to someone else)",
    409: "The Idempotency-Key was used with a different request",
    422: "Replicate refused the input",
    413: "The request body is too large",
    429: "Too many generations running; see Retry-After",
    503: "The database is unavailable, or a feature is not configured (`setting` names what to set)",
}
# One realistic body per status, for the documentation and generated clients.
EXAMPLES: dict[int, dict[str, Any]] = {
    400: {"detail": "settings.num_outputs: must be at most 4", "field": "settings.num_outputs"},
    401: {"detail": "send Authorization: Bearer <token>"},
    402: {"detail": "insufficient credits: 2 needed, 1 available", "needed": 2, "available": 1},
    403: {"detail": "administrators only"},
    404: {"detail": "generation 'f3b1c2d4' not found"},
    409: {"detail": "the Idempotency-Key was used with a different request"},
    413: {"detail": "Request Entity Too Large"},
    422: {"detail": "input validation failed", "field": "prompt"},
    429: {"detail": "too many generations in flight", "retry_after": 5},
    500: {"detail": "the server could not complete the request"},
    503: {"detail": "a dependency of the service is unavailable"},
}


def _example(status: int) -> Example:
    body = {"type": _type_uri(status), "title": title(status), "status": status}
    body |= EXAMPLES.get(status, {"detail": title(status)})
    return Example(summary=title(status), value=body)


def problem_responses(*statuses: int, described: dict[int, str] | None = None) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a route can answer with; `described`
    replaces the general description of a status where the route means something else."""
    described = described or {}
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=described.get(status) or DESCRIPTIONS.get(status, title(status)),
            media_type=PROBLEM_JSON,
            generate_examples=False,
            examples=[_example(status)],
        )
        for status in sorted({*statuses, 500})
    }


__all__ = [
    "EXCEPTION_HANDLERS",
    "PROBLEM_DETAILS",
    "PROBLEM_JSON",
    "problem",
    "problem_responses",
    "to_exception",
    "to_problem",
    "unexpected_error",
]
