"""Injected faults, seen through raw HTTP and through the official client."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import replicate
from sim_helpers import GOOD, OTHER, auth, client_for, create_flux, wait_until_done

from replicate_simulator import Fault, Simulator

FLUX = "black-forest-labs/flux-schnell"
FLUX_ROUTE = "/v1/models/black-forest-labs/flux-schnell/predictions"
BODY = {"input": {"prompt": "x"}}

EXPECTED = {
    401: ("Unauthenticated", "You did not pass a valid authentication token"),
    402: ("Insufficient credit", "You have insufficient credit to run this model."),
    403: ("Forbidden", "You do not have permission"),
    500: ("Internal Server Error", "Internal Server Error"),
}


async def test_unknown_or_missing_token_is_401(http: httpx.AsyncClient) -> None:
    for headers in (auth("r8_nobody"), {}, {"Authorization": "Basic abc"}):
        response = await http.post(FLUX_ROUTE, json=BODY, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "title": "Unauthenticated",
            "detail": "You did not pass a valid authentication token",
            "status": 401,
        }


@pytest.mark.parametrize("status", sorted(EXPECTED))
async def test_status_faults_for_a_token(
    sim: Simulator, http: httpx.AsyncClient, status: int
) -> None:
    sim.faults.for_token(GOOD, status=status)
    title, detail = EXPECTED[status]

    response = await http.post(FLUX_ROUTE, json=BODY, headers=auth(GOOD))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["title"], problem["status"]) == (title, status)
    assert problem["detail"].startswith(detail)

    with pytest.raises(replicate.exceptions.ReplicateError) as caught:
        await client_for(sim, GOOD).models.predictions.async_create(model=FLUX, input={"prompt": "x"})
    assert (caught.value.status, caught.value.title) == (status, title)

    other = await http.post(FLUX_ROUTE, json=BODY, headers=auth(OTHER))
    assert other.status_code == 201
    assert sim.engine.predictions()[0].token == OTHER


async def test_throttled_with_retry_after(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.for_token(GOOD, status=429, retry_after=5)
    response = await http.post(FLUX_ROUTE, json=BODY, headers=auth())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"] == "Request was throttled. Your rate limit resets in ~5s."


async def test_throttled_without_retry_after(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.for_token(GOOD, status=429)
    response = await http.post(FLUX_ROUTE, json=BODY, headers=auth())
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert response.json() == {
        "title": "Request was throttled",
        "detail": "Request was throttled. Your rate limit resets in ~30s.",
        "status": 429,
    }
    sim.faults.clear()
    sim.faults.for_token(GOOD, status=429, throttle_seconds=12)
    response = await http.post(FLUX_ROUTE, json=BODY, headers=auth())
    assert response.json()["detail"] == "Request was throttled. Your rate limit resets in ~12s."


async def test_client_does_not_retry_a_throttled_create(sim: Simulator) -> None:
    sim.faults.next_requests(1, status=429, retry_after=0)
    with pytest.raises(replicate.exceptions.ReplicateError) as caught:
        await client_for(sim).models.predictions.async_create(model=FLUX, input={"prompt": "x"})
    assert caught.value.status == 429
    assert "resets in ~" in (caught.value.detail or "")
    assert len(sim.requests(GOOD)) == 1


async def test_client_retries_a_throttled_get(sim: Simulator, http: httpx.AsyncClient) -> None:
    created = await create_flux(http)
    sim.faults.next_requests(1, operation="get", status=429, retry_after=0)
    prediction = await client_for(sim).predictions.async_get(created["id"])
    assert prediction.id == created["id"]
    assert [r.status for r in sim.requests(GOOD) if r.method == "GET"] == [429, 200]


async def test_one_shot_faults_run_out(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.next_requests(2, status=500)
    statuses = [(await http.post(FLUX_ROUTE, json=BODY, headers=auth())).status_code for _ in range(3)]
    assert statuses == [500, 500, 201]
    assert sim.faults.active() == []


async def test_faults_are_tried_in_the_order_they_were_added(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    sim.faults.for_token(GOOD, status=500, times=1)
    sim.faults.for_token(GOOD, status=402, times=1)
    statuses = [(await http.post(FLUX_ROUTE, json=BODY, headers=auth())).status_code for _ in range(3)]
    assert statuses == [500, 402, 201]


async def test_faults_can_target_one_operation(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.for_token(GOOD, operation="get", status=500)
    created = await create_flux(http)
    got = await http.get(f"/v1/predictions/{created['id']}", headers=auth())
    canceled = await http.post(f"/v1/predictions/{created['id']}/cancel", headers=auth())
    assert (got.status_code, canceled.status_code) == (500, 200)


async def test_faults_can_be_removed_and_cleared(sim: Simulator, http: httpx.AsyncClient) -> None:
    first = sim.faults.for_token(GOOD, status=500)
    sim.faults.for_token(OTHER, status=500)
    sim.faults.remove(first)
    assert (await http.post(FLUX_ROUTE, json=BODY, headers=auth(GOOD))).status_code == 201
    sim.faults.clear(OTHER)
    assert (await http.post(FLUX_ROUTE, json=BODY, headers=auth(OTHER))).status_code == 201


async def test_a_slow_get_times_the_client_out(sim: Simulator, http: httpx.AsyncClient) -> None:
    created = await create_flux(http)
    sim.faults.next_requests(1, operation="get", delay=0.5)
    client = client_for(sim, timeout=httpx.Timeout(0.15))
    with pytest.raises(httpx.TimeoutException):
        await client.predictions.async_get(created["id"])


async def test_a_slow_create_may_still_make_a_prediction(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    sim.faults.next_requests(1, operation="create", delay=0.5)
    with pytest.raises(httpx.TimeoutException):
        await http.post(FLUX_ROUTE, json=BODY, headers=auth(), timeout=0.15)
    # The server carried on: a create that timed out may still have made a prediction.
    for _ in range(100):
        if sim.engine.predictions():
            break
        await asyncio.sleep(0.02)
    assert len(sim.engine.predictions()) == 1


async def test_the_client_sends_creates_without_a_timeout(sim: Simulator) -> None:
    """replicate 1.0.7 passes `timeout=None` on create unless `wait` is given, which turns
    httpx's timeouts off: a slow create is not cut short by the client's `timeout`."""
    sim.faults.next_requests(1, operation="create", delay=0.4)
    client = client_for(sim, timeout=httpx.Timeout(0.1))
    prediction = await client.models.predictions.async_create(model=FLUX, input={"prompt": "x"})
    assert prediction.status == "starting"


async def test_a_slow_answer_can_end_in_an_error(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.faults.next_requests(1, delay=0.2, status=503)
    response = await http.post(FLUX_ROUTE, json=BODY, headers=auth())
    assert response.status_code == 503
    assert response.elapsed.total_seconds() >= 0.2


async def test_prediction_that_fails(sim: Simulator) -> None:
    sim.faults.for_token(GOOD, outcome="failed", error="CUDA out of memory", times=1)
    client = client_for(sim)
    prediction = await client.models.predictions.async_create(model=FLUX, input={"prompt": "x"})
    await prediction.async_wait()
    assert prediction.status == "failed"
    assert prediction.error == "CUDA out of memory"
    assert prediction.output is None
    assert prediction.started_at is not None
    second = await client.models.predictions.async_create(model=FLUX, input={"prompt": "x"})
    await second.async_wait()
    assert second.status == "succeeded"


async def test_prediction_that_aborts(sim: Simulator, http: httpx.AsyncClient) -> None:
    """Replicate 1.0.7's Prediction model does not know `aborted`: read it over raw HTTP."""
    sim.faults.for_token(GOOD, outcome="aborted")
    created = await create_flux(http)
    done = await wait_until_done(http, created["id"])
    assert done["status"] == "aborted"
    assert done["started_at"] is None and done["completed_at"] is not None
    assert done["output"] is None and done["error"] is None
    assert "predict_time" not in done["metrics"]

    with pytest.raises(Exception, match="status"):
        await client_for(sim).predictions.async_get(created["id"])


def test_a_fault_is_either_about_requests_or_about_predictions() -> None:
    with pytest.raises(ValueError):
        Fault()
    with pytest.raises(ValueError):
        Fault(status=500, outcome="failed")
    with pytest.raises(ValueError):
        Fault(operation="get", webhook="lost")
    with pytest.raises(ValueError):
        Fault(status=200)
    with pytest.raises(ValueError):
        Fault.from_json({"status": 500, "colour": "red"})
    assert Fault.from_json({"status": 429, "retry_after": 3}).to_json()["retry_after"] == 3
