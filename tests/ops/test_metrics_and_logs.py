"""A scripted scenario against a real `base serve`: /metrics counts what it did, the token
gauges match the pool, and the JSON log is JSON on every line, with request ids and no secret."""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from ops_helpers import FLUX, TERMINAL, request, samples, total, value, wait_for

from adapters.auth import SessionTokens
from adapters.replicate import sign
from live_server import BASE, child_env, free_port, stop, wait_until_healthy
from replicate_simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.slow

GOOD = ("r8_ops_good_token_one_000001", "r8_ops_good_token_two_000002")
BAD = "r8_ops_rejected_token_00003"  # the simulator does not know it: 401, retired
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"ops-suite-webhook-key-0123456789").decode()
METRICS_TOKEN = secrets.token_urlsafe(32)
SESSION_SECRET = secrets.token_urlsafe(48)
ADMIN = "00000000-0000-4000-8000-0000000000ad"
SUPPLIED_ID = "scenario-request-0001"


@attrs.frozen
class Run:
    url: str
    log: Path
    user_token: str
    admin_token: str
    metrics: dict
    headers: dict[str, dict[str, str]]
    secrets: tuple[str, ...]


def _metrics(url: str) -> str:
    status, _, body = request("GET", f"{url}/metrics", token=METRICS_TOKEN)
    assert status == 200, body
    return body


def _webhook(url: str, body: bytes, delivery: str, *, forged: bool = False) -> int:
    stamp = int(time.time())
    signature = sign(WEBHOOK_SECRET, delivery, stamp, body)
    if forged:
        signature = "v1," + base64.b64encode(b"0" * 32).decode()
    headers = {"webhook-id": delivery, "webhook-timestamp": str(stamp), "webhook-signature": signature}
    status, _, _ = request("POST", f"{url}/api/webhook/replicate", raw=body, headers=headers)
    return status


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("ops")
    simulator = Simulator(SimulatorConfig(tokens=GOOD, starting_delay=0.3, processing_delay=0.6))
    sessions = SessionTokens(SESSION_SECRET)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "serve.log"
    with simulator.running_in_thread() as running, open(log_path, "w") as log:
        env = child_env(
            BASE_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'ops.db'}",
            BASE_REPLICATE_TOKENS=",".join((*GOOD, BAD)),
            BASE_REPLICATE_BASE_URL=running.base_url,
            BASE_REPLICATE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            BASE_SESSION_SECRET=SESSION_SECRET,
            BASE_ALLOW_PRIVATE_IMAGE_URLS="true",
            BASE_RECONCILE_AFTER_SECONDS="1",
            BASE_ADMIN_USER_IDS=ADMIN,
            BASE_METRICS_TOKEN=METRICS_TOKEN,
            BASE_LOG_FORMAT="json",
            BASE_OUTPUT_DIR=str(workdir / "outputs"),
        )
        process = subprocess.Popen(
            [str(BASE), "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, process)
            yield _scenario(url, log_path, sessions, running)
        finally:
            assert stop(process) == 0, log_path.read_text()


def _scenario(url: str, log_path: Path, sessions: SessionTokens, simulator: Simulator) -> Run:
    user = sessions.issue(str(uuid.uuid4()))
    admin = sessions.issue(ADMIN)
    headers: dict[str, dict[str, str]] = {}
    created: list[str] = []
    # Four creates: every token is tried before one is used twice, so the unknown one is
    # tried (and retired) exactly once, its create failing over to a good token.
    for n in range(4):
        supplied = {"X-Request-Id": SUPPLIED_ID} if n == 0 else {}
        status, got, body = request("POST", f"{url}/api/generations/create", FLUX, token=user, headers=supplied)
        assert status == 201, body
        headers[f"create{n}"] = got
        created.append(body["id"])
    # A fifth, deleted while it runs: canceled, its credit refunded.
    status, _, body = request("POST", f"{url}/api/generations/create", FLUX, token=user)
    assert status == 201, body
    status, got, _ = request(
        "DELETE", f"{url}/api/generations/{body['id']}", token=user, headers={"X-Request-Id": "bad id!"}
    )
    assert status == 200
    headers["delete"] = got

    def all_done() -> bool:
        for gid in created:
            status, _, generation = request("GET", f"{url}/api/generations/{gid}", token=user)
            if status != 200 or generation["status"] not in TERMINAL or generation["output_urls"] == []:
                return False
            if not all("/outputs/" in u for u in generation["output_urls"]):
                return False  # completed, its results not yet copied into the store
        return True

    wait_for(all_done, 60, "the four generations to complete")

    # Webhooks: one delivered twice (the second a duplicate), one forged.
    _, _, done = request("GET", f"{url}/api/generations/{created[0]}", token=user)
    prediction = next(
        answer for token in GOOD
        for status, _, answer in [request("GET", f"{simulator.base_url}/v1/predictions/{done['prediction_id']}", token=token)]
        if status == 200
    )
    body = json.dumps(prediction).encode()
    assert _webhook(url, body, "msg_ops_1") == 200
    assert _webhook(url, body, "msg_ops_1") == 200
    assert _webhook(url, body, "msg_ops_2", forged=True) == 401

    wait_for(lambda: value(samples(_metrics(url)), "base_credit_holds_pending") == 0, 30, "every hold resolved")
    metrics = samples(_metrics(url))
    return Run(
        url, log_path, user, admin, metrics, headers,
        (*GOOD, BAD, WEBHOOK_SECRET, METRICS_TOKEN, SESSION_SECRET, user, admin),
    )


def test_generation_and_credit_counters_equal_what_the_scenario_did(run: Run) -> None:
    m = run.metrics
    flux = {"model": "flux-schnell", "action": "create"}
    assert value(m, "base_generations_accepted_total", **flux) == 5
    assert value(m, "base_generations_ended_total", **flux, status="completed") == 4
    assert value(m, "base_generations_ended_total", **flux, status="canceled") == 1
    assert value(m, "base_generations_ended_total", **flux, status="failed") == 0
    assert value(m, "base_generation_duration_seconds_count", model="flux-schnell", status="completed") == 4
    assert value(m, "base_credits_held_total") == 5
    assert value(m, "base_credits_settled_total") == 4
    assert value(m, "base_credits_refunded_total") == 1
    assert value(m, "base_credits_purchased_total") == 0
    assert value(m, "base_credit_holds_pending") == 0
    assert total(m, "base_generations_in_flight") == 0
    assert value(m, "base_oldest_processing_generation_age_seconds") == 0
    assert value(m, "base_output_copies_total", outcome="kept") == 4


def test_webhook_counters(run: Run) -> None:
    assert value(run.metrics, "base_webhooks_received_total") == 3
    assert value(run.metrics, "base_webhooks_duplicated_total") == 1
    assert value(run.metrics, "base_webhooks_rejected_total") == 1


def test_replicate_calls_by_outcome_and_token_label_and_the_token_gauges_match_the_pool(run: Run) -> None:
    status, _, stats = request("GET", f"{run.url}/api/admin/tokens/stats", token=run.admin_token)
    assert status == 200, stats
    pool = stats["tokens"]
    retired = [t for t in pool if not t["is_active"]]
    assert [t["label"] for t in retired] == [f"token {t['id'][:8]}" for t in retired]
    assert len(retired) == 1 and retired[0]["token"] != BAD
    cooling = [t for t in pool if t["is_active"] and t["cooldown_until"] is not None]
    m = run.metrics
    assert value(m, "base_tokens", state="retired") == len(retired) == 1
    assert value(m, "base_tokens", state="cooling") == len(cooling) == 0
    assert value(m, "base_tokens", state="active") == len(pool) - len(retired) - len(cooling) == 2

    # Labels, never secrets: the rejected token's one create, and five good ones.
    assert value(m, "base_replicate_calls_total", operation="create", outcome="rejected", token=retired[0]["label"]) == 1
    assert total(m, "base_replicate_calls_total", operation="create", outcome="ok") == 5
    assert total(m, "base_replicate_calls_total", operation="cancel", outcome="ok") == 1
    assert total(m, "base_replicate_call_duration_seconds_count", operation="create") == 6
    assert not any(secret in label for (_, labels) in m for _, label in labels for secret in (*GOOD, BAD))


def test_http_requests_by_route_template(run: Run) -> None:
    m = run.metrics
    assert value(m, "base_http_requests_total", method="POST", route="/api/generations/create", status="201") == 5
    assert value(m, "base_http_requests_total", method="POST", route="/api/webhook/replicate", status="401") == 1
    deletes = [labels for (name, labels) in m if name == "base_http_requests_total" and ("method", "DELETE") in labels]
    assert [dict(labels)["route"] for labels in deletes] == ["/api/generations/{generation_id}"]
    assert total(m, "base_http_request_duration_seconds_count", route="/api/generations/create") == 5


def test_metrics_are_not_public(run: Run) -> None:
    assert request("GET", f"{run.url}/metrics")[0] == 401
    assert request("GET", f"{run.url}/metrics", token="not-the-metrics-token")[0] == 401
    assert request("GET", f"{run.url}/metrics", token=run.admin_token)[0] == 401


def _lines(run: Run) -> list[dict]:
    text = run.log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line!r}")
    return parsed


def test_every_log_line_is_json_and_carries_its_request_id(run: Run) -> None:
    lines = _lines(run)
    access = [line for line in lines if line["logger"] == "base.http.access"]
    assert access and all(re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", line["request_id"]) for line in access)
    # The caller's valid id is kept and returned; an invalid one is replaced by a fresh one.
    assert run.headers["create0"]["x-request-id"] == SUPPLIED_ID
    replaced = run.headers["delete"]["x-request-id"]
    assert replaced != "bad id!" and re.fullmatch(r"[0-9a-f]{32}", replaced)
    ours = [line for line in lines if line.get("request_id") == SUPPLIED_ID]
    kinds = {line.get("event") for line in ours}
    assert {"GenerationAccepted", "CreditsHeld", "GenerationSubmitted"} <= kinds
    assert any(line["logger"] == "base.http.access" for line in ours)
    accepted = next(line for line in ours if line.get("event") == "GenerationAccepted")
    submitted = next(line for line in ours if line.get("event") == "GenerationSubmitted")
    assert accepted["generation_id"] == submitted["generation_id"] and accepted["user_id"]
    assert submitted["prediction_id"]
    # Lines written while serving a request carry its id; the delete's carry the fresh one.
    deleted = [line for line in lines if line.get("request_id") == replaced]
    assert {"GenerationCanceled", "CreditsRefunded"} <= {line.get("event") for line in deleted}
    assert [line["method"] for line in deleted if line["logger"] == "base.http.access"] == ["DELETE"]
    # Every request's lines name the signed-in user once authentication ran.
    created = next(line for line in access if line.get("request_id") == SUPPLIED_ID)
    assert created["user_id"] == accepted["user_id"]


def test_no_secret_of_the_scenario_appears_in_the_log(run: Run) -> None:
    text = run.log.read_text()
    for secret in run.secrets:
        assert secret not in text
