"""The generation lifecycle: one image job from acceptance to a final state.

    pending ──submit──▶ processing ──succeed──▶ completed
       │                   │  ▲ progress
       │                   ├──fail────▶ failed
       └──fail / cancel────┴──cancel──▶ canceled

Terminal states are final. Updates from Replicate arrive duplicated and out of order, so
applying one that the table does not allow from the current state is not an error: it
changes nothing. Commands from users and the service itself (`cancel`, `submit`) that the
table does not allow raise IllegalTransition. Deletion is a mark, allowed in any state once
the generation is no longer running.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from base_core.registry import Action
from base_core.errors import IllegalTransition, InvalidRequest, NotFound


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELED})
IN_FLIGHT = frozenset({Status.PENDING, Status.PROCESSING})


class Event(StrEnum):
    SUBMIT = "submit"
    PROGRESS = "progress"
    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"


P, R, C, F, X = Status.PENDING, Status.PROCESSING, Status.COMPLETED, Status.FAILED, Status.CANCELED

TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (P, Event.SUBMIT): R,
    (P, Event.PROGRESS): R,
    (P, Event.SUCCEED): C,
    (P, Event.FAIL): F,
    (P, Event.CANCEL): X,
    (R, Event.PROGRESS): R,
    (R, Event.SUCCEED): C,
    (R, Event.FAIL): F,
    (R, Event.CANCEL): X,
}

# Replicate's prediction statuses, as lifecycle events.
PROVIDER_EVENTS: dict[str, Event] = {
    "starting": Event.PROGRESS,
    "processing": Event.PROGRESS,
    "succeeded": Event.SUCCEED,
    "failed": Event.FAIL,
    "canceled": Event.CANCEL,
    "aborted": Event.CANCEL,
}


def next_status(current: Status, event: Event) -> Status | None:
    """The state the table leads to, or None when the event is not allowed from `current`."""
    return TRANSITIONS.get((current, event))


@attrs.frozen
class PredictionUpdate:
    """What Replicate says about a prediction (from a webhook, a poll or the create answer)."""

    prediction_id: str
    status: str
    output: tuple[str, ...] | None = None
    error: str | None = None
    predict_time: float | None = None
    completed_at: datetime | None = None

    @property
    def event(self) -> Event | None:
        return PROVIDER_EVENTS.get(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.event in (Event.SUCCEED, Event.FAIL, Event.CANCEL)

    @staticmethod
    def normalize_output(output: Any) -> tuple[str, ...] | None:
        """Replicate answers a list of URLs for some models and one URL for others."""
        if output is None:
            return None
        if isinstance(output, str):
            return (output,)
        if isinstance(output, Sequence):
            return tuple(str(item) for item in output if item is not None)
        return None


@attrs.define
class Generation:
    id: str
    user_id: str
    action: Action
    model_id: str
    model_name: str
    prompt: str | None
    input_image_url: str | None
    settings: dict[str, Any]
    replicate_input: dict[str, Any]
    cost: int
    created_at: datetime
    updated_at: datetime
    status: Status = Status.PENDING
    prediction_id: str | None = None
    token_id: str | None = None
    output_urls: list[str] | None = None
    error_message: str | None = None
    processing_time_ms: int | None = None
    completed_at: datetime | None = None
    deleted_at: datetime | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    # Replicate's own output URLs, kept after `output_urls` point at our stored copies.
    source_urls: list[str] | None = None
    outputs_kept_at: datetime | None = None  # when the copies were stored; None: not yet
    # The reconciler's lease: no process looks at the generation again before this time.
    next_check_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def needs_output_copy(self) -> bool:
        """Completed, still pointing at Replicate's short-lived files, and not deleted."""
        return (
            self.status is Status.COMPLETED
            and self.outputs_kept_at is None
            and not self.is_deleted
            and bool(self.source_urls)
        )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def is_visible_to(self, user_id: str) -> bool:
        return self.user_id == user_id and not self.is_deleted

    def ensure_visible_to(self, user_id: str) -> None:
        if not self.is_visible_to(user_id):
            raise NotFound("generation", self.id)

    # Commands: the service's own decisions. Not allowed → IllegalTransition.

    def submitted(self, prediction_id: str, token_id: str, now: datetime) -> None:
        self._move(Event.SUBMIT, now)
        self.prediction_id = prediction_id
        self.token_id = token_id

    def fail(self, message: str, now: datetime) -> None:
        self._move(Event.FAIL, now)
        self.error_message = message
        self.completed_at = now

    def cancel(self, now: datetime, message: str = "canceled") -> None:
        self._move(Event.CANCEL, now)
        self.error_message = message
        self.completed_at = now

    def outputs_kept(self, stored_urls: Sequence[str], now: datetime) -> bool:
        """Point `output_urls` at stored copies of `source_urls`; False when nothing to do."""
        if not self.needs_output_copy:
            return False
        if len(stored_urls) != len(self.source_urls or ()):
            raise ValueError("one stored copy per output is needed")
        self.output_urls = list(stored_urls)
        self.outputs_kept_at = now
        self.updated_at = now
        return True

    def delete(self, now: datetime) -> None:
        if self.is_deleted:
            raise NotFound("generation", self.id)
        if not self.is_terminal:
            raise IllegalTransition(self.status.value, "delete")
        self.deleted_at = now
        self.updated_at = now

    # Updates from Replicate: idempotent and order-tolerant.

    def apply(self, update: PredictionUpdate, now: datetime) -> bool:
        """Apply what Replicate says; return whether anything changed."""
        event = update.event
        if event is None:
            return False
        target = next_status(self.status, event)
        if target is None or target is self.status:
            return False  # not allowed from here, or a repeat that carries nothing new
        self.status = target
        self.updated_at = now
        if self.prediction_id is None:
            self.prediction_id = update.prediction_id
        if target.is_terminal:
            self.completed_at = update.completed_at or now
            if update.predict_time is not None:
                self.processing_time_ms = round(update.predict_time * 1000)
            if target is Status.COMPLETED:
                self.output_urls = list(update.output or ())
                self.source_urls = list(update.output or ())
                if not self.source_urls:
                    self.outputs_kept_at = now  # nothing to copy
            else:
                self.error_message = update.error or (
                    "prediction aborted" if update.status == "aborted" else f"prediction {update.status}"
                )
        return True

    def _move(self, event: Event, now: datetime) -> None:
        target = next_status(self.status, event)
        if target is None:
            raise IllegalTransition(self.status.value, event.value)
        self.status = target
        self.updated_at = now


@attrs.frozen
class GenerationQuery:
    """A page of one user's generations, newest first, optionally filtered."""

    user_id: str
    page: int = 1
    limit: int = 20
    action: Action | None = None
    status: Status | None = None

    @classmethod
    def parse(
        cls,
        user_id: str,
        page: object = None,
        limit: object = None,
        action: object = None,
        status: object = None,
    ) -> GenerationQuery:
        """Build from raw query parameters; raise InvalidRequest naming the bad one."""
        return cls(
            user_id=user_id,
            page=_whole("page", page, 1, 1, MAX_PAGE),
            limit=_whole("limit", limit, 20, 1, MAX_LIMIT),
            action=Action.parse(action) if action not in (None, "") else None,
            status=_status(status) if status not in (None, "") else None,
        )

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


MAX_LIMIT = 100
MAX_PAGE = 1_000_000


def _whole(field: str, raw: object, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise InvalidRequest(field, "must be a whole number")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 9:
        value = int(raw)
    else:
        raise InvalidRequest(field, f"must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise InvalidRequest(field, f"must be a whole number from {low} to {high}")
    return value


def _status(raw: object) -> Status:
    if isinstance(raw, str) and raw in Status._value2member_map_:
        return Status(raw)
    allowed = ", ".join(s.value for s in Status)
    raise InvalidRequest("status", f"must be one of {allowed}")


@attrs.frozen
class CheckQuery:
    """What the reconciler claims: generations that went quiet, and outputs not yet copied.

    - `pending` ones last changed before `pending_before` (their submitting process died);
    - `processing` ones last changed before `processing_before` (a webhook got lost);
    - `completed` ones whose outputs were not copied and that completed after
      `outputs_since` (older ones are gone from Replicate; None: don't look for them).
    Ones leased by another process (`next_check_at` after `now`) are skipped.
    """

    now: datetime
    pending_before: datetime
    processing_before: datetime
    outputs_since: datetime | None
    lease_until: datetime
    limit: int = 50

    def wants(self, generation: Generation) -> bool:
        """The same rule the SQL adapter writes as a WHERE clause."""
        if generation.next_check_at is not None and generation.next_check_at > self.now:
            return False
        if generation.status is Status.PENDING:
            return generation.updated_at < self.pending_before
        if generation.status is Status.PROCESSING:
            return generation.updated_at < self.processing_before
        return (
            self.outputs_since is not None
            and generation.status is Status.COMPLETED
            and generation.outputs_kept_at is None
            and not generation.is_deleted
            and generation.completed_at is not None
            and generation.completed_at >= self.outputs_since
        )


@attrs.frozen
class GenerationPage:
    items: list[Generation]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return (self.total + self.limit - 1) // self.limit


__all__ = [
    "IN_FLIGHT",
    "PROVIDER_EVENTS",
    "TERMINAL",
    "TRANSITIONS",
    "CheckQuery",
    "Event",
    "Generation",
    "GenerationPage",
    "GenerationQuery",
    "PredictionUpdate",
    "Status",
    "next_status",
]
