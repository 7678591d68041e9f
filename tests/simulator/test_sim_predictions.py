"""Creating, reading and canceling predictions, through the official client and raw HTTP."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime

import httpx
import pytest
from sim_helpers import (
    ESRGAN,
    GOOD,
    OTHER,
    SAME_ACCOUNT,
    auth,
    client_for,
    create_flux,
    wait_until_done,
)

from replicate_simulator import Simulator

FIELDS = {
    "id", "model", "version", "input", "output", "error", "logs", "status", "created_at",
    "started_at", "completed_at", "urls", "metrics", "data_removed",
}


def _is_iso_z(value: str) -> bool:
    return value.endswith("Z") and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None


async def test_official_model_through_the_client_runs_to_success(sim: Simulator) -> None:
    client = client_for(sim)
    prediction = await client.models.predictions.async_create(
        model="black-forest-labs/flux-schnell", input={"prompt": "a fox", "num_outputs": 2}
    )
    assert prediction.status == "starting"
    assert re.fullmatch(r"[a-z0-9]{26}", prediction.id)
    assert prediction.model == "black-forest-labs/flux-schnell"
    assert prediction.output is None

    await prediction.async_wait()

    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, list) and len(prediction.output) == 2
    assert all(url.startswith(f"{sim.base_url}/files/") for url in prediction.output)
    assert prediction.metrics is not None and prediction.metrics["predict_time"] > 0
    assert prediction.metrics["total_time"] >= prediction.metrics["predict_time"]


async def test_version_route_accepts_bare_and_qualified_versions(sim: Simulator) -> None:
    client = client_for(sim)
    image = await client.models.predictions.async_create(
        model="black-forest-labs/flux-schnell", input={"prompt": "a fox"}
    )
    await image.async_wait()
    for version in (ESRGAN, f"nightmareai/real-esrgan:{ESRGAN}"):
        upscale = await client.predictions.async_create(
            version=version, input={"image": image.output[0], "scale": 2}
        )
        assert upscale.model == "nightmareai/real-esrgan"
        assert upscale.version == ESRGAN
        await upscale.async_wait()
        assert upscale.status == "succeeded", upscale.error
        assert isinstance(upscale.output, str)


async def test_raw_prediction_object_has_replicates_fields(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    created = await create_flux(http)
    assert FIELDS <= set(created)
    assert created["status"] == "starting"
    assert created["started_at"] is None and created["completed_at"] is None
    assert created["data_removed"] is False
    assert created["input"] == {"prompt": "a red fox"}
    assert _is_iso_z(created["created_at"])
    assert created["urls"]["get"] == f"{sim.base_url}/v1/predictions/{created['id']}"
    assert created["urls"]["cancel"] == f"{sim.base_url}/v1/predictions/{created['id']}/cancel"
    assert re.fullmatch(r"[0-9a-f]{64}", created["version"])

    done = await wait_until_done(http, created["id"])

    assert done["status"] == "succeeded"
    assert _is_iso_z(done["started_at"]) and _is_iso_z(done["completed_at"])
    assert done["created_at"] <= done["started_at"] <= done["completed_at"]
    assert set(done["metrics"]) >= {"predict_time", "total_time"}
    assert done["logs"]
    web = await http.get(done["urls"]["web"])
    assert web.status_code == 200


async def test_status_moves_starting_then_processing_then_succeeded(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    sim.settings.starting_delay = 0.2
    sim.settings.processing_delay = 0.3
    created = await create_flux(http)
    seen = [created["status"]]
    while seen[-1] != "succeeded":
        await asyncio.sleep(0.02)
        body = (await http.get(f"/v1/predictions/{created['id']}", headers=auth())).json()
        if body["status"] != seen[-1]:
            seen.append(body["status"])
    assert seen == ["starting", "processing", "succeeded"]


async def test_single_url_output_for_nano_banana(sim: Simulator) -> None:
    prediction = await client_for(sim).models.predictions.async_create(
        model="google/nano-banana", input={"prompt": "a banana"}
    )
    await prediction.async_wait()
    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, str) and prediction.output.endswith(".jpg")


async def test_cancel_while_running_through_the_client(sim: Simulator) -> None:
    sim.settings.processing_delay = 5
    client = client_for(sim)
    prediction = await client.models.predictions.async_create(
        model="black-forest-labs/flux-schnell", input={"prompt": "a fox"}
    )
    canceled = await client.predictions.async_cancel(prediction.id)
    assert canceled.status == "canceled"
    assert canceled.completed_at is not None
    await asyncio.sleep(0.1)
    again = await client.predictions.async_get(prediction.id)
    assert again.status == "canceled"
    assert again.output is None


async def test_cancel_during_processing_over_raw_http(sim: Simulator, http: httpx.AsyncClient) -> None:
    sim.settings.processing_delay = 5
    created = await create_flux(http)
    while (await http.get(f"/v1/predictions/{created['id']}", headers=auth())).json()[
        "status"
    ] != "processing":
        await asyncio.sleep(0.01)
    response = await http.post(f"/v1/predictions/{created['id']}/cancel", headers=auth())
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert response.json()["started_at"] is not None


async def test_cancel_after_the_end_changes_nothing(sim: Simulator, http: httpx.AsyncClient) -> None:
    created = await create_flux(http)
    done = await wait_until_done(http, created["id"])
    response = await http.post(f"/v1/predictions/{created['id']}/cancel", headers=auth())
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert response.json()["output"] == done["output"]


async def test_predictions_belong_to_the_account_that_made_them(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    created = await create_flux(http, token=GOOD)
    same_account = await http.get(f"/v1/predictions/{created['id']}", headers=auth(SAME_ACCOUNT))
    other_account = await http.get(f"/v1/predictions/{created['id']}", headers=auth(OTHER))
    cancel_elsewhere = await http.post(
        f"/v1/predictions/{created['id']}/cancel", headers=auth(OTHER)
    )
    assert same_account.status_code == 200
    assert other_account.status_code == 404
    assert other_account.headers["content-type"] == "application/problem+json"
    assert cancel_elsewhere.status_code == 404


async def test_unknown_prediction_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/predictions/doesnotexist", headers=auth())
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_prefer_wait_holds_the_create_until_the_end(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/models/black-forest-labs/flux-schnell/predictions",
        json={"input": {"prompt": "quick"}},
        headers={**auth(), "Prefer": "wait=5"},
    )
    assert response.status_code == 201
    assert response.json()["status"] == "succeeded"


async def test_prefer_wait_answers_201_starting_when_the_wait_runs_out(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    sim.settings.processing_delay = 5
    started = time.monotonic()
    response = await http.post(
        "/v1/models/black-forest-labs/flux-schnell/predictions",
        json={"input": {"prompt": "slow"}},
        headers={**auth(), "Prefer": "wait=1"},
    )
    assert 1 <= time.monotonic() - started < 3
    assert response.status_code == 201
    assert response.json()["status"] == "starting"
    later = await http.get(f"/v1/predictions/{response.json()['id']}", headers=auth())
    assert later.json()["status"] == "processing"


@pytest.mark.parametrize("token", [GOOD, SAME_ACCOUNT])
async def test_request_log_names_the_token(
    sim: Simulator, http: httpx.AsyncClient, token: str
) -> None:
    created = await create_flux(http, token=token)
    await http.get(f"/v1/predictions/{created['id']}", headers=auth(token))
    log = sim.requests(token)
    assert [(r.method, r.path, r.status) for r in log] == [
        ("POST", "/v1/models/black-forest-labs/flux-schnell/predictions", 201),
        ("GET", f"/v1/predictions/{created['id']}", 200),
    ]
    assert all(r.token == token for r in log)
