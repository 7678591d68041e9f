"""The InferenceProvider contract, run against the in-memory fake and against Replicate's
adapter talking to the local simulator over real sockets.

Each backend comes with a driver that makes things happen the backend's own way ("this
prediction will fail", "this token answers 429"); the test bodies never ask which backend
they run on.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest
from PIL import Image

from adapters.replicate import ReplicateInference
from base_core.errors import (
    BaseError,
    NotFound,
    ProviderInputRejected,
    ProviderUnavailable,
    TokenOutOfCredit,
    TokenRateLimited,
    TokenRejected,
)
from base_core.generation import PredictionUpdate, Trigger
from base_core.ports import InferenceProvider, TokenCredential, WebhookTarget
from base_core.seed_models import REAL_ESRGAN_VERSION
from base_testing import FakeInference, ManualClock
from replicate_simulator import Simulator, SimulatorConfig

FLUX = "black-forest-labs/flux-schnell"
ESRGAN = f"nightmareai/real-esrgan:{REAL_ESRGAN_VERSION}"
MAIN = TokenCredential("token-main", "r8_contract_main_0123456789")
OTHER = TokenCredential("token-other", "r8_contract_other_0123456789")
TERMINAL = {"succeeded", "failed", "canceled", "aborted"}


class Driver(Protocol):
    provider: InferenceProvider

    def image_url(self) -> str: ...
    def rejected_input(self) -> tuple[dict[str, Any], str]: ...
    def next_prediction_ends(self, outcome: str) -> None: ...
    def keep_running(self) -> None: ...
    async def finish(self, prediction_id: str) -> None: ...
    def token_answers(self, token: TokenCredential, status: int, retry_after: int | None = None) -> None: ...
    def token_is_slow(self, token: TokenCredential) -> None: ...


class FakeDriver:
    def __init__(self) -> None:
        self.fake = FakeInference(ManualClock())
        self.provider: InferenceProvider = self.fake
        self._outcomes: list[str] = []
        self._ends: dict[str, str] = {}
        self._known: set[str] = set()

    def image_url(self) -> str:
        return "https://example.com/cat.png"

    def rejected_input(self) -> tuple[dict[str, Any], str]:
        return {"prompt": ""}, "prompt"

    def next_prediction_ends(self, outcome: str) -> None:
        self._outcomes.append(outcome)

    def keep_running(self) -> None:
        pass  # the fake's predictions only move when told

    async def finish(self, prediction_id: str) -> None:
        # Outcomes scripted before a create belong to the predictions created after it.
        for pid in self.fake.predictions:
            if pid not in self._known:
                self._known.add(pid)
                if self._outcomes:
                    self._ends[pid] = self._outcomes.pop(0)
        outcome = self._ends.get(prediction_id, "succeeded")
        if outcome == "failed":
            self.fake.fail(prediction_id)
        elif outcome == "aborted":
            self.fake.abort(prediction_id)
        else:
            self.fake.complete(prediction_id)

    def token_answers(self, token: TokenCredential, status: int, retry_after: int | None = None) -> None:
        error: BaseError
        if status in (401, 403):
            error = TokenRejected(status)
        elif status == 402:
            error = TokenOutOfCredit()
        elif status == 429:
            error = TokenRateLimited(float(retry_after or 30))
        else:
            error = ProviderUnavailable(status=status)
        self.fake.fail_token(token.secret, error)

    def token_is_slow(self, token: TokenCredential) -> None:
        self.fake.fail_token(token.secret, ProviderUnavailable("timed out"))


class ReplicateDriver:
    TIMEOUT = 1.0

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.provider: InferenceProvider = ReplicateInference(sim.base_url, timeout=self.TIMEOUT)

    def image_url(self) -> str:
        buffer = io.BytesIO()
        Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, "PNG")
        return self.sim.upload(buffer.getvalue())

    def rejected_input(self) -> tuple[dict[str, Any], str]:
        return {"prompt": "a fox", "num_outputs": 9}, "num_outputs"

    def next_prediction_ends(self, outcome: str) -> None:
        self.sim.faults.next_requests(1, outcome=outcome)

    def keep_running(self) -> None:
        self.sim.settings.starting_delay = 60.0

    async def finish(self, prediction_id: str) -> None:
        deadline = time.monotonic() + 10
        while (self.sim.prediction(prediction_id) or {}).get("status") not in TERMINAL:
            assert time.monotonic() < deadline, "the simulated prediction never ended"
            await asyncio.sleep(0.01)

    def token_answers(self, token: TokenCredential, status: int, retry_after: int | None = None) -> None:
        self.sim.faults.for_token(token.secret, status=status, retry_after=retry_after)

    def token_is_slow(self, token: TokenCredential) -> None:
        self.sim.faults.for_token(token.secret, delay=self.TIMEOUT * 3)


@pytest.fixture(params=["fake", "replicate"])
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    if request.param == "fake":
        yield FakeDriver()
        return
    config = SimulatorConfig(
        tokens=[MAIN.secret, OTHER.secret], starting_delay=0.02, processing_delay=0.05
    )
    async with Simulator(config).running() as sim:
        replicate_driver = ReplicateDriver(sim)
        yield replicate_driver
        await replicate_driver.provider.aclose()  # type: ignore[attr-defined]


def assert_secret_hidden(error: BaseException) -> None:
    for text in (str(error), repr(error), repr(vars(error))):
        assert MAIN.secret not in text and OTHER.secret not in text


async def test_an_official_model_runs_to_success(driver: Driver) -> None:
    created = await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox", "num_outputs": 2}, None)
    assert created.prediction_id
    assert created.trigger is Trigger.PROGRESS
    assert not created.is_terminal
    assert created.output is None

    await driver.finish(created.prediction_id)
    done = await driver.provider.get(MAIN, created.prediction_id)

    assert done.prediction_id == created.prediction_id
    assert done.trigger is Trigger.SUCCEED
    assert done.output is not None and len(done.output) == 2
    assert all(isinstance(url, str) and url.startswith("http") for url in done.output)
    assert done.predict_time is not None and done.predict_time >= 0
    assert done.completed_at is None or done.completed_at.utcoffset() is not None


async def test_a_version_pinned_model_with_one_output_url_comes_back_as_a_tuple(driver: Driver) -> None:
    created = await driver.provider.create(MAIN, ESRGAN, {"image": driver.image_url(), "scale": 2}, None)
    await driver.finish(created.prediction_id)
    done = await driver.provider.get(MAIN, created.prediction_id)
    assert done.trigger is Trigger.SUCCEED
    assert isinstance(done.output, tuple) and len(done.output) == 1


async def test_a_failed_prediction_carries_its_error(driver: Driver) -> None:
    driver.next_prediction_ends("failed")
    created = await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox"}, None)
    await driver.finish(created.prediction_id)
    done = await driver.provider.get(MAIN, created.prediction_id)
    assert done.trigger is Trigger.FAIL
    assert done.error
    assert not done.output


async def test_an_aborted_prediction_is_read_as_canceled_and_says_why(driver: Driver) -> None:
    driver.next_prediction_ends("aborted")
    created = await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox"}, None)
    await driver.finish(created.prediction_id)
    done = await driver.provider.get(MAIN, created.prediction_id)
    assert done == PredictionUpdate(
        prediction_id=created.prediction_id,
        trigger=Trigger.CANCEL,
        output=done.output,
        error=done.error,
        predict_time=done.predict_time,
        completed_at=done.completed_at,
    )
    assert done.is_terminal and done.error


async def test_cancel_stops_a_running_prediction(driver: Driver) -> None:
    driver.keep_running()
    created = await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox"}, None)
    canceled = await driver.provider.cancel(MAIN, created.prediction_id)
    assert canceled.prediction_id == created.prediction_id
    assert canceled.trigger is Trigger.CANCEL
    assert (await driver.provider.get(MAIN, created.prediction_id)).trigger is Trigger.CANCEL


async def test_a_webhook_target_is_accepted(driver: Driver) -> None:
    target = WebhookTarget("http://127.0.0.1:9/api/webhook/replicate")
    created = await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox"}, target)
    assert created.prediction_id and not created.is_terminal


async def test_a_prediction_is_only_visible_to_the_token_that_made_it(driver: Driver) -> None:
    created = await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox"}, None)
    with pytest.raises(NotFound):
        await driver.provider.get(OTHER, created.prediction_id)
    with pytest.raises(NotFound):
        await driver.provider.cancel(OTHER, created.prediction_id)


async def test_an_unknown_prediction_is_not_found(driver: Driver) -> None:
    with pytest.raises(NotFound):
        await driver.provider.get(MAIN, "nosuchprediction0000000000")


async def test_a_refused_input_is_the_users_fault(driver: Driver) -> None:
    replicate_input, field = driver.rejected_input()
    with pytest.raises(ProviderInputRejected) as caught:
        await driver.provider.create(MAIN, FLUX, replicate_input, None)
    assert field in caught.value.fields
    assert_secret_hidden(caught.value)


TOKEN_ANSWERS = [
    pytest.param(401, None, TokenRejected, id="401"),
    pytest.param(403, None, TokenRejected, id="403"),
    pytest.param(402, None, TokenOutOfCredit, id="402"),
    pytest.param(429, 12, TokenRateLimited, id="429"),
    pytest.param(500, None, ProviderUnavailable, id="500"),
]


@pytest.mark.parametrize(("status", "retry_after", "expected"), TOKEN_ANSWERS)
async def test_token_side_answers_to_create(
    driver: Driver, status: int, retry_after: int | None, expected: type[BaseError]
) -> None:
    driver.token_answers(MAIN, status, retry_after)
    with pytest.raises(expected) as caught:
        await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox"}, None)
    check_token_error(caught.value, status, retry_after)
    # Another token is not affected.
    assert (await driver.provider.create(OTHER, FLUX, {"prompt": "a red fox"}, None)).prediction_id


@pytest.mark.parametrize(("status", "retry_after", "expected"), TOKEN_ANSWERS)
async def test_token_side_answers_to_get(
    driver: Driver, status: int, retry_after: int | None, expected: type[BaseError]
) -> None:
    created = await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox"}, None)
    driver.token_answers(MAIN, status, retry_after)
    with pytest.raises(expected) as caught:
        await driver.provider.get(MAIN, created.prediction_id)
    check_token_error(caught.value, status, retry_after)


def check_token_error(error: BaseError, status: int, retry_after: int | None) -> None:
    if isinstance(error, TokenRejected):
        assert error.status == status
    if isinstance(error, TokenRateLimited):
        assert error.retry_after == retry_after
    assert_secret_hidden(error)


async def test_a_token_that_does_not_answer_in_time_is_unavailable(driver: Driver) -> None:
    driver.token_is_slow(MAIN)
    with pytest.raises(ProviderUnavailable) as caught:
        await driver.provider.create(MAIN, FLUX, {"prompt": "a red fox"}, None)
    assert_secret_hidden(caught.value)
