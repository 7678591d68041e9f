"""Replicate's prediction object, read into the core's PredictionUpdate.

One reader for every source (the create answer, a poll, a cancel, a webhook body), so a
prediction means the same thing whichever way it arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.replicate.statuses import update_for
from base_core.generation import PredictionUpdate


class MalformedPrediction(ValueError):
    """The JSON does not look like a prediction (no id or no status)."""


def update_from_json(data: Mapping[str, Any]) -> PredictionUpdate:
    prediction_id = data.get("id")
    status = data.get("status")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise MalformedPrediction("the prediction has no id")
    if not isinstance(status, str) or not status:
        raise MalformedPrediction("the prediction has no status")
    error = data.get("error")
    return update_for(
        prediction_id,
        status,
        output=data.get("output"),
        error=error if isinstance(error, str) and error else (str(error) if error else None),
        predict_time=_predict_time(data.get("metrics")),
        completed_at=parse_timestamp(data.get("completed_at")),
    )


def _predict_time(metrics: object) -> float | None:
    if not isinstance(metrics, Mapping):
        return None
    value = metrics.get("predict_time")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return float(value)


def parse_timestamp(value: object) -> datetime | None:
    """Replicate's ISO 8601 times (`...Z`, an offset, or naive meaning UTC) as aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
