"""Ways to run the simulator, and the admin routes another process drives it with."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import replicate
from sim_helpers import GOOD, OTHER, auth, create_flux, fast_config, png_bytes, wait_until_done

import replicate_simulator
from replicate_simulator import Simulator
from replicate_simulator.server import parse_args

FLUX_ROUTE = "/v1/models/black-forest-labs/flux-schnell/predictions"
BODY = {"input": {"prompt": "x"}}


def test_exported_names_exist() -> None:
    for name in replicate_simulator.__all__:
        assert hasattr(replicate_simulator, name), name


def test_running_in_a_thread_serves_synchronous_callers() -> None:
    with Simulator(fast_config()).running_in_thread() as sim:
        client = replicate.Client(api_token=GOOD, base_url=sim.base_url)
        client.poll_interval = 0.02
        prediction = client.models.predictions.create(
            model="black-forest-labs/flux-schnell", input={"prompt": "x"}
        )
        prediction.wait()
        assert prediction.status == "succeeded"
        assert httpx.get(prediction.output[0]).status_code == 200

        sim.faults.for_token(GOOD, status=402)
        with pytest.raises(replicate.exceptions.ReplicateError) as caught:
            client.models.predictions.create(model="black-forest-labs/flux-schnell", input={"prompt": "x"})
        assert caught.value.status == 402

        sim.reset()
        assert sim.faults.active() == []
        assert sim.requests() == []
        assert sim.prediction(prediction.id) is None


async def test_admin_routes(sim: Simulator, http: httpx.AsyncClient) -> None:
    assert (await http.get("/_sim/health")).json() == {"ok": True, "base_url": sim.base_url}

    added = await http.post("/_sim/faults", json={"token": GOOD, "status": 429, "retry_after": 7, "times": 1})
    assert added.status_code == 201 and added.json()["remaining"] == 1
    assert [f["status"] for f in (await http.get("/_sim/faults")).json()] == [429]
    throttled = await http.post(FLUX_ROUTE, json=BODY, headers=auth())
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "7")
    assert (await http.get("/_sim/faults")).json() == []

    bad = await http.post("/_sim/faults", json={"status": 500, "outcome": "failed"})
    assert bad.status_code == 400
    assert (await http.post("/_sim/faults", json={"bogus": 1})).status_code == 400

    fault_id = (await http.post("/_sim/faults", json={"status": 500})).json()["id"]
    await http.delete(f"/_sim/faults/{fault_id}")
    await http.post("/_sim/faults", json={"token": OTHER, "status": 500})
    await http.delete("/_sim/faults", params={"token": OTHER})
    assert (await http.get("/_sim/faults")).json() == []

    token = (await http.post("/_sim/tokens", json={"token": "r8_new", "account": "acct-9"})).json()
    assert token["account"] == "acct-9" and token["secret"] == sim.secret_for_account("acct-9")
    assert (await http.get("/_sim/secrets/r8_new")).json()["key"] == token["secret"]
    assert (await http.get("/_sim/tokens")).json()["r8_new"] == "acct-9"
    assert (await http.get("/_sim/secrets/r8_nobody")).status_code == 404

    settings = await http.patch("/_sim/settings", json={"processing_delay": 0.01, "retention": None})
    assert settings.json()["processing_delay"] == 0.01
    assert (await http.patch("/_sim/settings", json={"speed": 1})).status_code == 400

    upload = await http.post("/_sim/files", params={"ext": "png"}, content=png_bytes((8, 8)))
    assert upload.status_code == 201
    assert (await http.get(upload.json()["url"])).headers["content-type"] == "image/png"

    created = await create_flux(http, token="r8_new")
    await wait_until_done(http, created["id"], token="r8_new")
    log = (await http.get("/_sim/requests", params={"token": "r8_new"})).json()
    assert {entry["token"] for entry in log} == {"r8_new"}
    listed = (await http.get("/_sim/predictions", params={"token": "r8_new"})).json()
    assert [(p["id"], p["account"]) for p in listed] == [(created["id"], "acct-9")]
    removed = await http.post(f"/_sim/predictions/{created['id']}/remove-data")
    assert removed.status_code == 200
    assert sim.prediction(created["id"])["data_removed"] is True  # type: ignore[index]
    assert (await http.get("/_sim/webhooks")).json() == []

    assert (await http.post("/_sim/reset")).status_code == 200
    assert (await http.get("/_sim/predictions")).json() == []
    assert (await http.get("/v1/predictions/x", headers=auth("r8_new"))).status_code == 401


def test_parse_args() -> None:
    host, port, config = parse_args(
        ["--port", "0", "--token", "r8_a", "--token", "r8_b=acct", "--secret", "acct=whsec_AAAA",
         "--processing-delay", "0.1", "--retention", "60"]
    )
    assert (host, port) == ("127.0.0.1", 0)
    assert list(config.tokens) == ["r8_a"]
    assert dict(config.accounts) == {"r8_b": "acct"}
    assert dict(config.account_secrets) == {"acct": "whsec_AAAA"}
    assert (config.processing_delay, config.retention, config.accept_any_token) == (0.1, 60, False)
    assert parse_args([])[2].accept_any_token is True


@pytest.fixture
def subprocess_simulator() -> Iterator[tuple[subprocess.Popen[str], str]]:
    secret = "whsec_" + "c2ltdWxhdG9yLXNlY3JldC1mb3ItdGVzdHM="
    process = subprocess.Popen(
        [
            sys.executable, "-m", "replicate_simulator", "--port", "0",
            "--token", "r8_a", "--token", "r8_b=shared", "--secret", f"shared={secret}",
            "--starting-delay", "0.01", "--processing-delay", "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        match = re.search(r"serving on (http://\S+)", first_line)
        assert match, first_line
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.mark.slow
def test_as_a_subprocess(subprocess_simulator: tuple[subprocess.Popen[str], str]) -> None:
    process, base_url = subprocess_simulator
    with httpx.Client(base_url=base_url, timeout=10) as http:
        assert http.get("/_sim/health").json()["ok"] is True
        secret = http.get("/v1/webhooks/default/secret", headers=auth("r8_b")).json()["key"]
        assert secret == "whsec_c2ltdWxhdG9yLXNlY3JldC1mb3ItdGVzdHM="

        http.post("/_sim/faults", json={"token": "r8_a", "status": 402})
        assert http.post(FLUX_ROUTE, json=BODY, headers=auth("r8_a")).status_code == 402
        http.delete("/_sim/faults")

        client = replicate.Client(api_token="r8_a", base_url=base_url)
        client.poll_interval = 0.02
        prediction = client.models.predictions.create(
            model="black-forest-labs/flux-schnell", input={"prompt": "x"}
        )
        prediction.wait()
        assert prediction.status == "succeeded"
        assert http.get(prediction.output[0]).status_code == 200
        assert [r["status"] for r in http.get("/_sim/requests", params={"token": "r8_a"}).json()][:1] == [402]

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_in_process_simulator_has_no_url_until_it_runs() -> None:
    with pytest.raises(RuntimeError):
        _ = Simulator().base_url
    started = time.monotonic()
    with Simulator(fast_config()).running_in_thread(port=0) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
    assert time.monotonic() - started < 5
