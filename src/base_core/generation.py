"""The generation lifecycle: one image job from acceptance to a final state.

    pending ──submit──▶ processing ──succeed──▶ completed
       │                   │  ▲ progress
       │                   ├──fail────▶ failed
       └──fail / cancel────┴──cancel──▶ canceled

Terminal states are final. News arrives duplicated and out of order, so news the table
does not allow from the current state is not an error: it changes nothing (`advance`).
Replicate's news, the service giving up and a user canceling are all news of that kind,
so every ending takes one path. `submitted` is a command: not allowed → IllegalTransition.
Deletion is a mark, allowed once the generation is no longer running.

A Generation is frozen: each change returns a new one that has recorded the domain event
of the change (base_core.events), which the unit of work collects when it is saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from base_core.errors import IllegalTransition, InvalidRequest, NotFound
from base_core.events import (
    GenerationAccepted,
    GenerationCanceled,
    GenerationCompleted,
    GenerationDeleted,
    GenerationEnded,
    GenerationFailed,
    GenerationSubmitted,
    OutputsKept,
    Recorded,
    RecordsEvents,
    named,
    with_recorded,
)
from base_core.frozen import FrozenDict, freeze_mapping, freeze_urls, replace, restore
from base_core.registry import Action


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


class Trigger(StrEnum):
    """What moves a generation along the table."""

    SUBMIT = "submit"
    PROGRESS = "progress"
    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"


# The members by module names, also for the hot transitions: on Python 3.11 reading
# `Status.COMPLETED` goes through the enum class's `__getattr__` hook, ten times a global.
P, R, C, F, X = Status.PENDING, Status.PROCESSING, Status.COMPLETED, Status.FAILED, Status.CANCELED
_SUBMIT = Trigger.SUBMIT

TRANSITIONS: dict[tuple[Status, Trigger], Status] = {
    (P, Trigger.SUBMIT): R,
    (P, Trigger.PROGRESS): R,
    (P, Trigger.SUCCEED): C,
    (P, Trigger.FAIL): F,
    (P, Trigger.CANCEL): X,
    (R, Trigger.PROGRESS): R,
    (R, Trigger.SUCCEED): C,
    (R, Trigger.FAIL): F,
    (R, Trigger.CANCEL): X,
}


def next_status(current: Status, trigger: Trigger) -> Status | None:
    """The state the table leads to, or None when the trigger is not allowed from `current`."""
    return TRANSITIONS.get((current, trigger))


# What an ending says when nobody gave a reason.
_DEFAULT_MESSAGES = {Trigger.FAIL: "prediction failed", Trigger.CANCEL: "prediction canceled"}


@attrs.frozen(slots=False)  # made per webhook or poll: a dict-filling __init__ is cheaper
class PredictionUpdate:
    """News about a prediction, in the core's words (from a webhook, a poll or the create
    answer; the Replicate adapter translates Replicate's statuses and output shapes)."""

    prediction_id: str
    trigger: Trigger  # PROGRESS, SUCCEED, FAIL or CANCEL
    output: tuple[str, ...] | None = None
    error: str | None = None
    predict_time: float | None = None
    completed_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.trigger in _ENDINGS


_ENDINGS = frozenset({Trigger.SUCCEED, Trigger.FAIL, Trigger.CANCEL})


@attrs.frozen
class Failure:
    """The service gives up on a generation (no token, input refused, timed out, ...)."""

    message: str


@attrs.frozen
class Cancellation:
    """The user (or the service on their behalf) stops a generation."""

    message: str = "canceled"


# Whatever can move a generation that is already accepted: Replicate's news, or a decision.
News = PredictionUpdate | Failure | Cancellation

_ENDED_EVENTS: dict[Status, type[GenerationEnded]] = {
    Status.COMPLETED: GenerationCompleted,
    Status.FAILED: GenerationFailed,
    Status.CANCELED: GenerationCanceled,
}


@attrs.frozen(slots=False)
class Generation(RecordsEvents):
    """One image job. Frozen: every change is a new Generation that has recorded its event."""

    id: str
    user_id: str
    action: Action
    model_id: str
    model_name: str
    prompt: str | None
    input_image_url: str | None
    settings: FrozenDict = attrs.field(converter=freeze_mapping)
    replicate_input: FrozenDict = attrs.field(converter=freeze_mapping)
    cost: int
    created_at: datetime
    updated_at: datetime
    status: Status = Status.PENDING
    prediction_id: str | None = None
    token_id: str | None = None
    output_urls: tuple[str, ...] | None = attrs.field(default=None, converter=freeze_urls)
    error_message: str | None = None
    processing_time_ms: int | None = None
    completed_at: datetime | None = None
    deleted_at: datetime | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    # Replicate's own output URLs, kept after `output_urls` point at our stored copies.
    source_urls: tuple[str, ...] | None = attrs.field(default=None, converter=freeze_urls)
    outputs_kept_at: datetime | None = None  # when the copies were stored; None: not yet
    # The reconciler's lease: no process looks at the generation again before this time.
    next_check_at: datetime | None = None
    # 0006: the store's keys of the copies (URLs are built from them when answering), and
    # the upload taken as input, if any.
    output_keys: tuple[str, ...] | None = attrs.field(default=None, converter=freeze_urls)
    input_upload_id: str | None = None
    # Counts the changes a user can see (each transition that records an event): what the
    # live feed and its streams order a generation's states by.
    version: int = 1

    @classmethod
    def accept(
        cls,
        *,
        id: str,
        user_id: str,
        action: Action,
        model_id: str,
        model_name: str,
        prompt: str | None,
        input_image_url: str | None,
        settings: Mapping[str, Any],
        replicate_input: Mapping[str, Any],
        cost: int,
        created_at: datetime,
        updated_at: datetime,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        input_upload_id: str | None = None,
    ) -> Generation:
        """A new generation, pending, its credits held by the caller."""
        # Recorded by position (events.py): at, generation_id, user_id, version, model_id,
        # action, cost. str() of a StrEnum member is its value, without `.value`'s call.
        event = (
            GenerationAccepted, created_at, id, user_id, 1, model_id,
            str(action if type(action) is Action else Action(action)), cost,
        )
        # Every field, as `__init__` would set it (a test checks that it is every field and
        # the same generation), without its calls of the converters for fields that are None:
        # the pending state's defaults, and what is given stored over them.
        state = _PENDING_STATE.copy()
        state["id"] = id
        state["user_id"] = user_id
        state["action"] = action
        state["model_id"] = model_id
        state["model_name"] = model_name
        state["prompt"] = prompt
        state["input_image_url"] = input_image_url
        # A prepared request's are frozen already (registry.PreparedGeneration).
        state["settings"] = settings if type(settings) is FrozenDict else freeze_mapping(settings)
        state["replicate_input"] = (
            replicate_input if type(replicate_input) is FrozenDict else freeze_mapping(replicate_input)
        )
        state["cost"] = cost
        state["created_at"] = created_at
        state["updated_at"] = updated_at
        state["idempotency_key"] = idempotency_key
        state["request_fingerprint"] = request_fingerprint
        state["input_upload_id"] = input_upload_id
        accepted = restore(cls, state)
        _set_recorded(accepted, "recorded", (event,))
        return accepted

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def needs_output_copy(self) -> bool:
        """Completed, still pointing at Replicate's short-lived files, and not deleted."""
        return (
            self.status is C
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

    def submitted(self, prediction_id: str, token_id: str, now: datetime) -> Generation:
        target = TRANSITIONS.get((self.status, _SUBMIT))
        if target is None:
            raise IllegalTransition(self.status.value, Trigger.SUBMIT.value)
        # Recorded by position (events.py): at, generation_id, user_id, version,
        # prediction_id, token_id.
        event = (GenerationSubmitted, now, self.id, self.user_id, self.version + 1, prediction_id, token_id)
        state = self.__dict__.copy()
        state["status"] = target
        state["updated_at"] = now
        state["prediction_id"] = prediction_id
        state["token_id"] = token_id
        state["version"] = self.version + 1
        submitted = restore(Generation, state)
        _set_recorded(submitted, "recorded", self.recorded + (event,))
        return submitted

    def delete(self, now: datetime) -> Generation:
        if self.is_deleted:
            raise NotFound("generation", self.id)
        if not self.is_terminal:
            raise IllegalTransition(self.status.value, "delete")
        event = named(
            GenerationDeleted, at=now, generation_id=self.id, user_id=self.user_id,
            version=self.version + 1,
        )
        deleted = replace(self, deleted_at=now, updated_at=now, version=self.version + 1)
        return with_recorded(deleted, self.recorded + (event,))

    def outputs_kept(self, stored_keys: Sequence[str], now: datetime) -> Generation | None:
        """Record the store's keys of the copies of `source_urls`; None when nothing to do.

        `output_urls` keep Replicate's URLs; whoever answers builds the copies' URLs from
        `output_keys` (the public base may change, a key does not)."""
        if not self.needs_output_copy:
            return None
        if len(stored_keys) != len(self.source_urls or ()):
            raise ValueError("one stored copy per output is needed")
        event = named(
            OutputsKept, at=now, generation_id=self.id, user_id=self.user_id,
            version=self.version + 1, outputs=len(stored_keys),
        )
        kept = replace(
            self, output_keys=tuple(stored_keys), outputs_kept_at=now, updated_at=now,
            version=self.version + 1,
        )
        return with_recorded(kept, self.recorded + (event,))

    @property
    def stored_keys(self) -> tuple[str, ...]:
        """The keys of what the store holds for this generation (its copies)."""
        return self.output_keys or ()

    def leased(self, until: datetime) -> Generation:
        """Claimed by the reconciler until `until`."""
        return replace(self, next_check_at=until)

    # News: idempotent and order-tolerant.

    def advance(self, news: News, now: datetime) -> Generation | None:
        """The generation after `news`, or None when it changes nothing (not allowed from
        here, or a repeat that carries nothing new). Replicate's news and the service's own
        decisions to fail or cancel go through here alike."""
        if type(news) is PredictionUpdate:
            trigger = news.trigger
        elif type(news) is Failure:
            trigger = Trigger.FAIL
        else:
            trigger = Trigger.CANCEL
        target = TRANSITIONS.get((self.status, trigger))
        if target is None or target is self.status:
            return None
        # The new state, written into a copy of this one (a copy and a few stores cost
        # less than a dict of the changes merged into a new dict).
        state = self.__dict__.copy()
        state["status"] = target
        state["updated_at"] = now
        version = state["version"] = self.version + 1
        update = news if type(news) is PredictionUpdate else None
        prediction_id = self.prediction_id
        if prediction_id is None and update is not None:
            prediction_id = state["prediction_id"] = update.prediction_id
        if target not in TERMINAL:
            event = (  # by position, as in `submitted`
                GenerationSubmitted, now, self.id, self.user_id, version, prediction_id or "", self.token_id
            )
            running = restore(Generation, state)
            _set_recorded(running, "recorded", self.recorded + (event,))
            return running
        if update is None:
            state["completed_at"] = now
            state["error_message"] = news.message  # type: ignore[union-attr]
        else:
            state["completed_at"] = update.completed_at or now
            if update.predict_time is not None:
                state["processing_time_ms"] = round(update.predict_time * 1000)
            if target is C:
                outputs = update.output or ()
                state["output_urls"] = state["source_urls"] = outputs
                if not outputs:
                    state["outputs_kept_at"] = now  # nothing to copy
            else:
                state["error_message"] = update.error or _DEFAULT_MESSAGES[trigger]
        ended = restore(Generation, state)
        _set_recorded(ended, "recorded", self.recorded + (self._ended_event(target, state, prediction_id, now),))
        return ended

    def _ended_event(
        self, target: Status, state: dict[str, Any], prediction_id: str | None, now: datetime
    ) -> Recorded:
        """The record of the event of reaching `target`, whose new `state` is given."""
        # By position (events.py): at, generation_id, user_id, version, model_id, action,
        # prediction_id, accepted_at, then `outputs` (completed) or `message` (the others).
        if target is C:
            kind: type[GenerationEnded] = GenerationCompleted
            detail: object = len(state["output_urls"])
        else:
            kind = _ENDED_EVENTS[target]
            detail = state["error_message"]
        return (
            kind, now, self.id, self.user_id, state["version"], self.model_id, str(self.action),
            prediction_id, self.created_at, detail,
        )


# `with_recorded`, without its call, in the transitions every generation goes through.
_set_recorded = object.__setattr__

# A new generation's state before what `accept` is given: every field at its default (None
# where it has none), in the order `__init__` sets them. Copying it and storing the given
# values costs less than building the 28 entries from nothing.
_PENDING_STATE: dict[str, Any] = {
    field.name: None if field.default is attrs.NOTHING else field.default
    for field in attrs.fields(Generation)
}

# The sizes of a history page, shared with the HTTP layer's parameter declarations.
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_PAGE = 1_000_000


@attrs.frozen
class GenerationQuery:
    """A page of one user's generations, newest first, optionally filtered."""

    user_id: str
    page: int = 1
    limit: int = DEFAULT_LIMIT
    action: Action | None = None
    status: Status | None = None

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.page <= MAX_PAGE:
            raise InvalidRequest("page", f"must be a whole number from 1 to {MAX_PAGE}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidRequest("limit", f"must be a whole number from 1 to {MAX_LIMIT}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


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
    "DEFAULT_LIMIT",
    "IN_FLIGHT",
    "MAX_LIMIT",
    "MAX_PAGE",
    "TERMINAL",
    "TRANSITIONS",
    "Cancellation",
    "CheckQuery",
    "Failure",
    "Generation",
    "GenerationPage",
    "GenerationQuery",
    "News",
    "PredictionUpdate",
    "Status",
    "Trigger",
    "next_status",
]
