"""One log line per domain event: the subscriber that tells operators what happened.

Lines carry ids, states and amounts, never inputs (prompts, URLs) or secrets; the events
themselves carry nothing else (base_core.events).
"""

from __future__ import annotations

import logging

import attrs

from base_core.events import DomainEvent, EventDispatcher, GenerationEvent

log = logging.getLogger("base.events")
generations_log = logging.getLogger("base.generations")

# Fields left out of the line: the time is the log record's own.
_SKIPPED = frozenset({"at"})


# Per event class: its name and the fields its line names, in order (worked out once).
_SHAPES: dict[type, tuple[str, tuple[str, ...]]] = {}


def _shape(kind: type) -> tuple[str, tuple[str, ...]]:
    shape = _SHAPES.get(kind)
    if shape is None:
        names = tuple(field.name for field in attrs.fields(kind) if field.name not in _SKIPPED)
        shape = _SHAPES[kind] = (kind.__name__, names)
    return shape


def describe(event: DomainEvent) -> str:
    """`GenerationCompleted generation_id=… user_id=… outputs=1`, in field order."""
    name, names = _shape(type(event))
    fields = " ".join([f"{field}={getattr(event, field)}" for field in names])
    return f"{name} {fields}"


# The event's fields a JSON line carries as its own keys (the rest stay in the message).
_CONTEXT_FIELDS = ("generation_id", "user_id", "prediction_id", "token_id", "model_id")


def log_event(event: DomainEvent) -> None:
    logger = generations_log if isinstance(event, GenerationEvent) else log
    if logger.isEnabledFor(logging.INFO):
        extra: dict[str, object] = {"event": _shape(type(event))[0]}
        for name in _CONTEXT_FIELDS:
            value = getattr(event, name, None)
            if value is not None:
                extra[name] = value
        logger.info("%s", describe(event), extra=extra)


def log_subscriber_failure(event: DomainEvent, handler: object, error: Exception) -> None:
    log.error("a subscriber of %s failed", type(event).__name__, exc_info=error)


def logging_dispatcher() -> EventDispatcher:
    """A dispatcher whose subscribers' failures are logged, with the event logger on it."""
    dispatcher = EventDispatcher(on_error=log_subscriber_failure)
    dispatcher.subscribe(log_event)
    return dispatcher


__all__ = ["describe", "log_event", "logging_dispatcher"]
