"""Errors as RFC 9457 problem+json, from one mapping of the core's error tree.

Every exception that leaves a handler (the core's, Litestar's own validation and routing
errors, anything unexpected) goes through `problem_response`; unexpected ones become a
bare 500 whose traceback is logged here and never sent to the client.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from base_core import errors
from entrypoints.http.schemas import Problem

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("base.http")

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# Most specific first: the first class the error is an instance of wins.
STATUS_OF: tuple[tuple[type[errors.BaseError], int], ...] = (
    (errors.ProviderInputRejected, 422),
    (errors.InvalidRequest, 400),
    (errors.Unauthenticated, 401),
    (errors.InsufficientCredits, 402),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.TooManyInFlight, 429),
    (errors.NoTokenAvailable, 503),
    (errors.ProviderError, 503),
    (errors.InfrastructureError, 503),
)


def _type_uri(status: int) -> str:
    return f"https://httpstatuses.io/{status}"


def problem(status: int, detail: str, **extra: Any) -> Problem:
    return Problem(
        type=_type_uri(status), title=TITLES.get(status, "Error"), status=status, detail=detail, **extra
    )


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
    return problem(status, error.detail or TITLES.get(status, "error"))


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


def problem_response(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    """The one exception handler of the API."""
    body = to_problem(error)
    if body.status == 500:
        log.error(
            "unhandled error on %s %s", request.method, request.url.path, exc_info=error
        )
    headers: dict[str, str] = {}
    if body.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="base"'
    if body.retry_after is not None:
        headers["Retry-After"] = str(body.retry_after)
    if isinstance(error, HTTPException) and error.headers:
        headers = {**error.headers, **headers}
    return Response(body, status_code=body.status, media_type=PROBLEM_JSON, headers=headers)


EXCEPTION_HANDLERS = {Exception: problem_response}

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
    503: "No Replicate token can take the work now, or the database is unavailable",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a route can answer with."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=DESCRIPTIONS.get(status, TITLES.get(status, "Error")),
            media_type=PROBLEM_JSON,
        )
        for status in sorted({*statuses, 500})
    }


__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "problem", "problem_response", "problem_responses", "to_problem"]
