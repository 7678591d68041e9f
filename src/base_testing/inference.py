"""An in-process stand-in for Replicate, driven by its owner.

Predictions start as `starting` and move only when told (`complete`, `fail`, `progress`,
`cancel`), or by themselves after `auto_complete_after` when asked about with `get`, so
the whole service runs offline on it. Token-side errors can be scripted per token
(persistent) or for the next calls (one-shot).
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import timedelta
from typing import Any

import attrs

from adapters.replicate.statuses import TERMINAL_STATUSES, update_for
from base_core.errors import BaseError, NotFound, ProviderInputRejected
from base_core.frozen import FrozenDict
from base_core.generation import PredictionUpdate
from base_core.ports import Clock, TokenCredential, WebhookTarget


@attrs.define
class FakePrediction:
    id: str
    token_id: str
    replicate_model: str
    input: dict[str, Any]
    webhook: WebhookTarget | None
    status: str
    created_at: Any
    output: tuple[str, ...] | None = None
    error: str | None = None
    predict_time: float | None = None

    def as_update(self) -> PredictionUpdate:
        return update_for(self.id, self.status, self.output, self.error, self.predict_time)


TERMINAL = TERMINAL_STATUSES


class FakeInference:
    def __init__(self, clock: Clock, auto_complete_after: timedelta | None = None) -> None:
        self._clock = clock
        self._auto_complete_after = auto_complete_after
        self._ids = itertools.count(1)
        self.predictions: dict[str, FakePrediction] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, token id)
        self._token_faults: dict[str, BaseError] = {}
        self._next_faults: deque[BaseError] = deque()

    # Scripting

    def fail_token(self, token_secret: str, error: BaseError | None) -> None:
        """Every call with this token raises `error` (None clears it)."""
        if error is None:
            self._token_faults.pop(token_secret, None)
        else:
            self._token_faults[token_secret] = error

    def fail_next(self, *errors: BaseError) -> None:
        """The next calls, whatever their token, raise these errors in turn."""
        self._next_faults.extend(errors)

    def progress(self, prediction_id: str) -> PredictionUpdate:
        return self._set(prediction_id, "processing")

    def complete(
        self, prediction_id: str, output: list[str] | None = None, predict_time: float = 1.5
    ) -> PredictionUpdate:
        prediction = self._get(prediction_id)
        count = int(prediction.input.get("num_outputs", 1))
        urls = output or [
            f"https://replicate.delivery/fake/{prediction_id}/out-{i}.png" for i in range(count)
        ]
        prediction.output = tuple(urls)
        prediction.predict_time = predict_time
        return self._set(prediction_id, "succeeded")

    def fail(self, prediction_id: str, error: str = "the model crashed") -> PredictionUpdate:
        self._get(prediction_id).error = error
        return self._set(prediction_id, "failed")

    def abort(self, prediction_id: str) -> PredictionUpdate:
        return self._set(prediction_id, "aborted")

    # The port

    async def create(
        self,
        token: TokenCredential,
        replicate_model: str,
        replicate_input: dict[str, Any],
        webhook: WebhookTarget | None,
    ) -> PredictionUpdate:
        self._call("create", token)
        if "prompt" in replicate_input and replicate_input["prompt"] == "":
            raise ProviderInputRejected({"prompt": "prompt is required"})
        # By position (id, token_id, replicate_model, input, webhook, status, created_at): a
        # class called with keywords builds a dict of them first. A frozen input (what the
        # service stores) is kept as it is; another is copied, as Replicate keeps its own.
        kept = replicate_input if type(replicate_input) is FrozenDict else dict(replicate_input)
        prediction = FakePrediction(
            f"fake{next(self._ids):08d}", token.token_id, replicate_model, kept,
            webhook, "starting", self._clock.now(),
        )
        self.predictions[prediction.id] = prediction
        return prediction.as_update()

    async def get(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        self._call("get", token)
        prediction = self._owned(token, prediction_id)
        after = self._auto_complete_after
        if (
            after is not None
            and prediction.status not in TERMINAL
            and self._clock.now() - prediction.created_at >= after
        ):
            return self.complete(prediction_id, predict_time=after.total_seconds())
        return prediction.as_update()

    async def cancel(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        self._call("cancel", token)
        prediction = self._owned(token, prediction_id)
        if prediction.status not in TERMINAL:
            prediction.status = "canceled"
        return prediction.as_update()

    # Internals

    def _call(self, operation: str, token: TokenCredential) -> None:
        self.calls.append((operation, token.token_id))
        if self._next_faults:
            raise self._next_faults.popleft()
        fault = self._token_faults.get(token.secret)
        if fault is not None:
            raise fault

    def _owned(self, token: TokenCredential, prediction_id: str) -> FakePrediction:
        prediction = self._get(prediction_id)
        if prediction.token_id != token.token_id:
            # Replicate only shows a prediction to the account that created it.
            raise NotFound("prediction", prediction_id)
        return prediction

    def _get(self, prediction_id: str) -> FakePrediction:
        try:
            return self.predictions[prediction_id]
        except KeyError:
            raise NotFound("prediction", prediction_id) from None

    def _set(self, prediction_id: str, status: str) -> PredictionUpdate:
        prediction = self._get(prediction_id)
        if prediction.status not in TERMINAL:
            prediction.status = status
        return prediction.as_update()
