"""Injected faults: what goes wrong, for which token or operation, and how many times.

A fault either answers a request (`status` and/or `delay`) or shapes a prediction made
by a create request (`outcome`, `webhook`). Request faults are matched on every API
request; prediction faults only when a prediction is created. Faults are tried in the
order they were added; `times=None` keeps one active until cleared.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any, Literal, get_args

import attrs

Operation = Literal["create", "get", "cancel", "secret", "list", "model", "account", "file"]
Outcome = Literal["failed", "aborted"]
WebhookFault = Literal["duplicate", "out_of_order", "lost"]

_OPERATIONS = get_args(Operation)
_OUTCOMES = get_args(Outcome)
_WEBHOOK_FAULTS = get_args(WebhookFault)


def _one_of(choices: tuple[str, ...]) -> Any:
    return attrs.validators.optional(attrs.validators.in_(choices))


@attrs.frozen
class Fault:
    """One kind of misbehaviour.

    - `status`: answer with this HTTP status and Replicate's problem body for it
      (`detail` overrides the text; for 429, `retry_after` adds a `Retry-After`
      header and `throttle_seconds` goes into the detail, defaulting to `retry_after`
      or 30);
    - `delay`: wait this many seconds before answering (alone or with `status`);
    - `outcome`: the prediction ends `failed` (with `error`) or `aborted`;
    - `webhook`: its webhooks are sent twice (`duplicate`), its `processing` webhook
      arrives after the terminal one (`out_of_order`), or none is sent (`lost`).
    """

    token: str | None = None
    operation: Operation | None = attrs.field(default=None, validator=_one_of(_OPERATIONS))
    status: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(
            [attrs.validators.ge(400), attrs.validators.le(599)]
        ),
    )
    detail: str | None = None
    retry_after: int | None = None
    throttle_seconds: int | None = None
    delay: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    outcome: Outcome | None = attrs.field(default=None, validator=_one_of(_OUTCOMES))
    error: str | None = None
    webhook: WebhookFault | None = attrs.field(default=None, validator=_one_of(_WEBHOOK_FAULTS))
    times: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )

    def __attrs_post_init__(self) -> None:
        if self.answers_requests == self.shapes_predictions:
            raise ValueError(
                "a fault either answers requests (status, delay) "
                "or shapes predictions (outcome, webhook)"
            )
        if self.shapes_predictions and self.operation not in (None, "create"):
            raise ValueError("outcome and webhook faults apply to create requests")

    @property
    def answers_requests(self) -> bool:
        return self.status is not None or self.delay > 0

    @property
    def shapes_predictions(self) -> bool:
        return self.outcome is not None or self.webhook is not None

    def matches(self, token: str | None, operation: Operation) -> bool:
        return (self.token is None or self.token == token) and (
            self.operation is None or self.operation == operation
        )

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Fault:
        known = {a.name for a in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return attrs.asdict(self)


@attrs.define
class _Armed:
    id: int
    fault: Fault
    remaining: int | None


class Faults:
    """The active faults of one simulator; safe to use from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> int:
        with self._lock:
            armed = _Armed(next(self._ids), fault, fault.times)
            self._armed.append(armed)
            return armed.id

    def for_token(self, token: str, **fields: object) -> int:
        """Misbehave for requests made with this token, e.g. `for_token(t, status=401)`."""
        return self.add(Fault(token=token, **fields))  # type: ignore[arg-type]

    def next_requests(self, count: int = 1, **fields: object) -> int:
        """Misbehave for the next `count` matching requests, whatever their token."""
        return self.add(Fault(times=count, **fields))  # type: ignore[arg-type]

    def remove(self, fault_id: int) -> None:
        with self._lock:
            self._armed = [a for a in self._armed if a.id != fault_id]

    def clear(self, token: str | None = None) -> None:
        """Forget every fault, or only those aimed at `token`."""
        with self._lock:
            self._armed = [] if token is None else [a for a in self._armed if a.fault.token != token]

    def active(self) -> list[tuple[int, Fault, int | None]]:
        with self._lock:
            return [(a.id, a.fault, a.remaining) for a in self._armed]

    def take_for_request(self, token: str | None, operation: Operation) -> Fault | None:
        return self._take(token, operation, lambda f: f.answers_requests)

    def take_for_prediction(self, token: str | None) -> Fault | None:
        return self._take(token, "create", lambda f: f.shapes_predictions)

    def _take(self, token: str | None, operation: Operation, kind: object) -> Fault | None:
        with self._lock:
            for armed in self._armed:
                if kind(armed.fault) and armed.fault.matches(token, operation):  # type: ignore[operator]
                    if armed.remaining is not None:
                        armed.remaining -= 1
                        if armed.remaining <= 0:
                            self._armed.remove(armed)
                    return armed.fault
        return None
