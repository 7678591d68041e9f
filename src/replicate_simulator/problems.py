"""Error answers in Replicate's problem+json shape, including the ones faults inject."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from litestar import Response

from replicate_simulator.faults import Fault
from replicate_simulator.models import InvalidField

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def to_response(self) -> Response[bytes]:
        body = {"title": self.title, "detail": self.detail, "status": self.status, **self.extra}
        return Response(
            content=json.dumps(body).encode(),
            status_code=self.status,
            media_type=PROBLEM_JSON,
            headers=self.headers,
        )


def unauthenticated() -> Problem:
    return Problem(401, "Unauthenticated", "You did not pass a valid authentication token")


def insufficient_credit() -> Problem:
    return Problem(
        402,
        "Insufficient credit",
        "You have insufficient credit to run this model. Go to "
        "https://replicate.com/account/billing#billing to purchase credit. Once you purchase "
        "credit, please wait a few minutes before trying again.",
    )


def forbidden() -> Problem:
    return Problem(403, "Forbidden", "You do not have permission to perform this action.")


def throttled(seconds: int, retry_after: int | None) -> Problem:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Problem(
        429,
        "Request was throttled",
        f"Request was throttled. Your rate limit resets in ~{seconds}s.",
        headers=headers,
    )


def not_found(detail: str = "The requested resource could not be found.") -> Problem:
    return Problem(404, "Not found", detail)


def bad_request(detail: str) -> Problem:
    return Problem(400, "Bad request", detail)


def invalid_input(fields: list[InvalidField]) -> Problem:
    detail = "".join(f"- {f.field}: {f.description}\n" for f in fields)
    return Problem(
        422,
        "Input validation failed",
        detail,
        extra={"invalid_fields": [f.to_json() for f in fields]},
    )


def invalid_version() -> Problem:
    return Problem(
        422,
        "Invalid version or not permitted",
        "The specified version does not exist (or perhaps you don't have permission to use it?)",
    )


def from_fault(fault: Fault) -> Problem:
    assert fault.status is not None
    status = fault.status
    if status == 429:
        seconds = fault.throttle_seconds or fault.retry_after or 30
        problem = throttled(seconds, fault.retry_after)
    elif status == 401:
        problem = unauthenticated()
    elif status == 402:
        problem = insufficient_credit()
    elif status == 403:
        problem = forbidden()
    else:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        problem = Problem(status, phrase, f"{phrase} (simulated)")
    if fault.detail is not None:
        problem.detail = fault.detail
    return problem
