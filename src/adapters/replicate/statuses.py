"""Replicate's words for a prediction, in the core's: statuses and output shapes.

    starting, processing  → PROGRESS   (Replicate has it; it runs)
    succeeded             → SUCCEED
    failed                → FAIL
    canceled              → CANCEL
    aborted               → CANCEL     (stopped before it ran, e.g. past a deadline)

A status Replicate may add later is taken as news that the prediction runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from base_core.generation import PredictionUpdate, Trigger

TRIGGERS: dict[str, Trigger] = {
    "starting": Trigger.PROGRESS,
    "processing": Trigger.PROGRESS,
    "succeeded": Trigger.SUCCEED,
    "failed": Trigger.FAIL,
    "canceled": Trigger.CANCEL,
    "aborted": Trigger.CANCEL,
}
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})
_SEQUENCES = frozenset({list, tuple})
_RUNNING = Trigger.PROGRESS  # a status added later; a module name, not an enum class lookup


def update_for(
    prediction_id: str,
    status: str,
    output: Any = None,
    error: str | None = None,
    predict_time: float | None = None,
    completed_at: datetime | None = None,
) -> PredictionUpdate:
    """What Replicate said about a prediction, as the core's PredictionUpdate."""
    if status == "aborted" and not error:
        error = "prediction aborted"
    # By position, in the fields' order: a class called with keywords builds a dict of them.
    return PredictionUpdate(
        prediction_id, TRIGGERS.get(status, _RUNNING), outputs_of(output), error, predict_time, completed_at
    )


def outputs_of(output: Any) -> tuple[str, ...] | None:
    """Replicate answers a list of URLs for some models and one URL for others."""
    if output is None:
        return None
    if isinstance(output, str):
        return (output,)
    if type(output) in _SEQUENCES or isinstance(output, Sequence):  # the ABC's check is slow
        if None in output:
            output = [item for item in output if item is not None]
        return tuple(map(str, output))
    return None


__all__ = ["TERMINAL_STATUSES", "TRIGGERS", "outputs_of", "update_for"]
