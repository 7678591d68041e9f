"""Outputs disappear after the retention period, as on Replicate."""

from __future__ import annotations

import asyncio

import httpx
from sim_helpers import auth, client_for, create_flux, fast_config, wait_until_done

from replicate_simulator import Simulator


async def _removed(http: httpx.AsyncClient, prediction_id: str) -> dict[str, object]:
    for _ in range(200):
        body = (await http.get(f"/v1/predictions/{prediction_id}", headers=auth())).json()
        if body["data_removed"]:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError("data was never removed")


async def test_outputs_are_deleted_after_the_retention() -> None:
    async with Simulator(fast_config(retention=0.5)).running() as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            created = await create_flux(http, input={"prompt": "x", "num_outputs": 2})
            done = await wait_until_done(http, created["id"])
            assert done["data_removed"] is False
            urls = done["output"]
            for url in urls:
                assert (await http.get(url)).status_code == 200

            removed = await _removed(http, created["id"])

            assert removed["output"] is None
            assert removed["status"] == "succeeded"
            assert removed["input"] == {}
            for url in urls:
                gone = await http.get(url)
                assert gone.status_code == 404
                assert gone.headers["content-type"] == "application/problem+json"
            prediction = await client_for(sim).predictions.async_get(created["id"])
            assert prediction.output is None


async def test_retention_can_change_at_run_time(sim: Simulator, http: httpx.AsyncClient) -> None:
    created = await create_flux(http)
    await wait_until_done(http, created["id"])
    await asyncio.sleep(0.2)
    assert (await http.get(f"/v1/predictions/{created['id']}", headers=auth())).json()[
        "data_removed"
    ] is False

    sim.settings.retention = 0.05
    later = await create_flux(http)
    await _removed(http, later["id"])


async def test_remove_data_now(sim: Simulator, http: httpx.AsyncClient) -> None:
    created = await create_flux(http)
    done = await wait_until_done(http, created["id"])
    sim.remove_data(created["id"])
    assert (await http.get(done["output"][0])).status_code == 404
    snapshot = sim.prediction(created["id"])
    assert snapshot is not None and snapshot["data_removed"] is True


async def test_an_upscale_of_a_removed_output_fails(sim: Simulator, http: httpx.AsyncClient) -> None:
    created = await create_flux(http)
    done = await wait_until_done(http, created["id"])
    sim.remove_data(created["id"])
    response = await http.post(
        "/v1/predictions",
        json={
            "version": "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa",
            "input": {"image": done["output"][0]},
        },
        headers=auth(),
    )
    upscale = await wait_until_done(http, response.json()["id"])
    assert upscale["status"] == "failed"
    assert "404" in upscale["error"]
