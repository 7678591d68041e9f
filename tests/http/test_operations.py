"""/metrics, /health/live, /health/ready and the request id, on the app in process."""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from adapters.replicate import ReplicateWebhooks, WebhookSecrets
from adapters.system import SystemClock
from base_testing import FakeInference
from entrypoints.bootstrap import Overrides, open_services
from entrypoints.http import create_app
from entrypoints.logs import ContextFilter
from entrypoints.settings import Settings

METRICS_TOKEN = "m" * 40
SESSION_SECRET = "s" * 48
WEBHOOK_SECRET = "whsec_d2ViaG9vay1rZXktZm9yLXRlc3RzLTAxMjM0NTY3ODk="


@contextlib.asynccontextmanager
async def client(*, background: bool = True, **settings: object) -> AsyncIterator[tuple[AsyncTestClient, object]]:
    clock = SystemClock()
    overrides = Overrides(
        inference=FakeInference(clock), webhooks=ReplicateWebhooks(WebhookSecrets.fixed(WEBHOOK_SECRET), clock)
    )
    configured = Settings(database_url="memory://", session_secret=SESSION_SECRET, **settings)  # type: ignore[arg-type]
    async with (
        open_services(configured, overrides, background=background) as services,
        AsyncTestClient(app=create_app(services)) as test_client,
    ):
        yield test_client, services


async def test_metrics_do_not_exist_on_the_api_without_a_token() -> None:
    async with client() as (http, _):
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/metrics", headers={"Authorization": "Bearer anything"})).status_code == 404


async def test_metrics_need_the_metrics_token() -> None:
    async with client(metrics_token=METRICS_TOKEN) as (http, services):
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40})).status_code == 401
        user_token = services.sessions.issue(str(uuid.uuid4()))
        assert (await http.get("/metrics", headers={"Authorization": f"Bearer {user_token}"})).status_code == 401
        answer = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        families = {family.name for family in text_string_to_metric_families(answer.text)}
        assert {"base_tokens", "base_http_requests", "base_generations_in_flight"} <= families


async def test_liveness_and_readiness_name_what_is_missing() -> None:
    async with client() as (http, services):
        assert (await http.get("/health/live")).json() == {"status": "ok"}
        answer = await http.get("/health/ready")
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["database"] == checks["migrations"] == checks["background"] == "ok"
        assert checks["tokens"].startswith("no usable Replicate token")
        await services.studio.add_token("r8_ready_token_000001")
        answer = await http.get("/health/ready")
        assert answer.status_code == 200 and answer.json()["status"] == "ready"
        # /health stays as it was.
        assert (await http.get("/health")).json() == {"status": "ok", "database": "ok"}


async def test_readiness_wants_the_background_loop() -> None:
    async with client(background=False, replicate_tokens=("r8_ready_token_000001",)) as (http, _):
        answer = await http.get("/health/ready")
        assert answer.status_code == 503
        assert answer.json()["checks"]["background"] == "the background loop is not running"


@pytest.mark.parametrize("supplied", ["abc-123", "A.b_c:9"])
async def test_a_valid_request_id_is_kept_and_returned(supplied: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(ContextFilter())  # what the service's own handler does
    async with client() as (http, _):
        with caplog.at_level(logging.INFO, logger="base.http.access"):
            answer = await http.get("/health/live", headers={"X-Request-Id": supplied})
        assert answer.headers["x-request-id"] == supplied
        assert [r.request_id for r in caplog.records if r.name == "base.http.access"] == [supplied]


@pytest.mark.parametrize("supplied", ["", "has space", "x" * 129, "semi;colon", "ünï".encode()])
async def test_an_invalid_request_id_is_replaced(supplied: str) -> None:
    async with client() as (http, _):
        answer = await http.get("/health/live", headers={"X-Request-Id": supplied})
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])


async def test_errors_carry_the_request_id_too() -> None:
    async with client() as (http, _):
        answer = await http.get("/api/me", headers={"X-Request-Id": "err-1"})
        assert answer.status_code == 401 and answer.headers["x-request-id"] == "err-1"
        first, second = await http.get("/health/live"), await http.get("/health/live")
        assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_what_no_route_takes_gets_a_request_id_and_is_counted_as_unmatched() -> None:
    async with client(metrics_token=METRICS_TOKEN) as (http, _):
        missing = await http.get("/no/such/route", headers={"X-Request-Id": "nf-1"})
        assert missing.status_code == 404 and missing.headers["x-request-id"] == "nf-1"
        wrong_method = await http.post("/health/live")
        assert wrong_method.status_code == 405 and re.fullmatch(r"[0-9a-f]{32}", wrong_method.headers["x-request-id"])
        routed = await http.get("/health/live", headers={"X-Request-Id": "ok-1"})
        assert routed.headers.get_list("x-request-id") == ["ok-1"]
        answer = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        counted = {
            (s.labels["route"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(answer.text) if family.name == "base_http_requests"
            for s in family.samples if s.name == "base_http_requests_total"
        }
        assert counted[("unmatched", "404")] == 1 and counted[("unmatched", "405")] == 1
        assert counted[("/health/live", "200")] == 1
