"""Reading Replicate's answers: predictions, problem bodies, Retry-After; the client per loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

import adapters.replicate as package
from adapters.replicate import ReplicateInference
from adapters.replicate._errors import from_status, retry_after_of
from adapters.replicate._predictions import MalformedPrediction, parse_timestamp, update_from_json
from base_core.errors import (
    NotFound,
    ProviderInputRejected,
    ProviderUnavailable,
    TokenOutOfCredit,
    TokenRateLimited,
    TokenRejected,
)
from base_core.ports import TokenCredential
from replicate_simulator import Simulator, SimulatorConfig


def test_every_exported_name_exists() -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-24T10:00:01.123456Z", datetime(2025, 11, 24, 10, 0, 1, 123456, tzinfo=UTC)),
        ("2025-11-24T10:00:01.123456789Z", datetime(2025, 11, 24, 10, 0, 1, 123456, tzinfo=UTC)),
        ("2025-11-24T12:00:01+02:00", datetime(2025, 11, 24, 10, 0, 1, tzinfo=UTC)),
        ("2025-11-24T10:00:01", datetime(2025, 11, 24, 10, 0, 1, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (12345, None),
    ],
)
def test_timestamps_are_read_as_aware_utc(text: object, expected: datetime | None) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


def test_a_prediction_reads_into_an_update() -> None:
    single = update_from_json({"id": "p1", "status": "succeeded", "output": "https://x/y.png", "metrics": {"predict_time": 2}})
    assert single.output == ("https://x/y.png",) and single.predict_time == 2.0
    listed = update_from_json({"id": "p1", "status": "succeeded", "output": ["https://x/1", None, "https://x/2"]})
    assert listed.output == ("https://x/1", "https://x/2")
    odd = update_from_json({"id": "p1", "status": "failed", "error": {"msg": "boom"}, "metrics": {"predict_time": True}})
    assert odd.error == "{'msg': 'boom'}" and odd.predict_time is None and odd.output is None
    removed = update_from_json({"id": "p1", "status": "succeeded", "output": None, "data_removed": True})
    assert removed.output is None
    for broken in ({}, {"id": "p1"}, {"status": "failed"}, {"id": 5, "status": "failed"}):
        with pytest.raises(MalformedPrediction):
            update_from_json(broken)


def response(status: int, body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {}, headers=headers)


def test_retry_after_comes_from_the_header_then_the_detail_then_a_default() -> None:
    detail = "Request was throttled. Your rate limit resets in ~40s."
    assert retry_after_of(response(429, headers={"Retry-After": "7"}), detail) == 7
    assert retry_after_of(response(429, headers={"Retry-After": "2.5"}), detail) == 2.5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < retry_after_of(response(429, headers={"Retry-After": later}), detail) <= 120
    assert retry_after_of(response(429, headers={"Retry-After": "soon"}), detail) == 40
    assert retry_after_of(response(429, headers={"Retry-After": "-3"}), detail) == 40
    assert retry_after_of(None, "Your rate limit resets in ~ 12 s") == 12
    assert retry_after_of(None, "Request was throttled.") == 30
    assert retry_after_of(None, None) == 30


def test_statuses_map_onto_the_core_errors() -> None:
    assert isinstance(from_status(401, "create", "m", None), TokenRejected)
    forbidden = from_status(403, "get", "p", None)
    assert isinstance(forbidden, TokenRejected) and forbidden.status == 403
    assert isinstance(from_status(402, "create", "m", None), TokenOutOfCredit)
    assert isinstance(from_status(429, "cancel", "p", None), TokenRateLimited)
    gone = from_status(404, "get", "p1", None)
    assert isinstance(gone, NotFound) and gone.key == "p1"
    unknown_model = from_status(404, "create", "acme/nothing", None, "Model not found")
    assert isinstance(unknown_model, ProviderInputRejected) and "model" in unknown_model.fields
    for status in (500, 502, 503, 504, 409):
        error = from_status(status, "create", "m", None)
        assert isinstance(error, ProviderUnavailable) and error.status == status


def test_invalid_fields_come_from_the_body_or_else_the_detail() -> None:
    body = {
        "title": "Input validation failed",
        "detail": "- prompt: prompt is required\n",
        "invalid_fields": [{"type": "required", "field": "prompt", "description": "prompt is required"}],
    }
    from_body = from_status(422, "create", "m", response(422, body))
    assert isinstance(from_body, ProviderInputRejected)
    assert from_body.fields == {"prompt": "prompt is required"}
    from_detail = from_status(422, "create", "m", None, "- width: too big\n- seed: not an integer\n")
    assert isinstance(from_detail, ProviderInputRejected)
    assert from_detail.fields == {"width": "too big", "seed": "not an integer"}
    bare = from_status(422, "create", "m", None, "The specified version does not exist")
    assert isinstance(bare, ProviderInputRejected) and bare.fields == {}
    assert "version does not exist" in bare.message


def test_one_adapter_serves_several_event_loops() -> None:
    """The client's async pool binds to its first loop: each loop must get its own."""
    token = TokenCredential("t1", "r8_loops_token_01")
    config = SimulatorConfig(tokens=[token.secret], starting_delay=0.02, processing_delay=0.05)
    with Simulator(config).running_in_thread() as sim:
        inference = ReplicateInference(sim.base_url, timeout=5.0)

        async def create_and_close() -> str:
            try:
                created = await inference.create(token, "black-forest-labs/flux-schnell", {"prompt": "x"}, None)
                return created.prediction_id
            finally:
                await inference.aclose()

        async def create_and_keep() -> str:
            created = await inference.create(token, "black-forest-labs/flux-schnell", {"prompt": "x"}, None)
            return created.prediction_id

        first = asyncio.run(create_and_keep())  # leaves its client behind, bound to a closed loop
        second = asyncio.run(create_and_close())
        third = asyncio.run(create_and_close())
    assert len({first, second, third}) == 3


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReplicateInference(timeout=0)
