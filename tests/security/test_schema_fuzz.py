"""Schemathesis over the live service's own OpenAPI schema: every endpoint, every method.

`base serve` runs as a real process on SQLite with a simulator standing in for
Replicate. Cases are generated from /schema/openapi.json, sent with a valid bearer token
(an administrator's for the admin routes), and each response must be no 5xx and must
match the documented status codes, content types, headers and body schemas.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from adapters.auth import SessionTokens
from live_server import call, serving
from replicate_simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.slow

ADMIN_ID = str(uuid.UUID(int=0xA0A0))
USER_ID = str(uuid.UUID(int=0xB0B0))
SESSION_SECRET = secrets.token_urlsafe(48)
SESSIONS = SessionTokens(SESSION_SECRET)
EXAMPLES = int(os.environ.get("BASE_SCHEMA_FUZZ_EXAMPLES", "40"))


def served_schema() -> dict:
    """The document `GET /schema/openapi.json` answers, built from the same app code."""
    from litestar.serialization import encode_json

    from entrypoints.http import create_app

    app = create_app(lambda: None)  # type: ignore[arg-type,return-value]  # never started
    return json.loads(encode_json(app.openapi_schema.to_schema()))


SCHEMA = served_schema()
# The gallery's event stream stays open until the client leaves, which a fuzzed call
# never does; tests/e2e/test_live_streams.py drives it over a real server instead.
schema = schemathesis.openapi.from_dict(SCHEMA).exclude(path="/api/generations/events")


@pytest.fixture(scope="module")
def live_url(tmp_path_factory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("schema-fuzz")
    simulator = Simulator(
        SimulatorConfig(accept_any_token=True, starting_delay=0.05, processing_delay=0.1)
    )
    with simulator.running_in_thread() as running:
        env = {
            "BASE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'fuzz.db'}",
            "BASE_REPLICATE_TOKENS": "r8_fuzz_token_0001",
            "BASE_REPLICATE_BASE_URL": running.base_url,
            "BASE_SESSION_SECRET": SESSION_SECRET,
            "BASE_ADMIN_USER_IDS": ADMIN_ID,
            "BASE_INITIAL_CREDITS": "1000000",
            "BASE_MAX_IN_FLIGHT_PER_USER": "1000",
            "BASE_TELEGRAM_BOT_TOKEN": "123456:fuzz-bot-token",
            "BASE_RECONCILE_AFTER_SECONDS": "1",
        }
        with serving(workdir, env) as (url, _log):
            yield url


def bearer_for(path: str) -> dict[str, str]:
    user = ADMIN_ID if path.startswith("/api/admin") else USER_ID
    return {"Authorization": f"Bearer {SESSIONS.issue(user)}"}


def test_the_fuzzed_schema_is_the_one_the_service_serves(live_url: str) -> None:
    status, served = call("GET", f"{live_url}/schema/openapi.json")
    assert status == 200
    assert served == SCHEMA


# Checked on every response, whatever was sent.
ROBUSTNESS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
# Schema-valid bodies may still be refused with a 400 where the rule depends on data the
# schema cannot state: the chosen model's settings (create), a non-zero amount (credits),
# a token without spaces (tokens). Everything else must accept what the schema allows.
DOMAIN_VALIDATED = {("POST", "/api/generations/create"), ("POST", "/api/admin/credits"),
                    ("POST", "/api/admin/tokens")}
# Litestar's automatic OPTIONS answer on a path with two handlers lists only the first
# one's method; OPTIONS is no part of the documented API.
EXCLUDED = [checks.allow_header_conformance]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_keeps_its_documented_contract(case, live_url: str) -> None:
    headers = bearer_for(case.path)
    if case.meta is not None and case.meta.generation.mode.is_negative:
        # Invalid input: never a 5xx, always a documented status with a documented body.
        response = case.call(base_url=live_url, headers=headers, timeout=10)
        case.validate_response(response, checks=ROBUSTNESS)
        return
    excluded = list(EXCLUDED)
    if (case.method.upper(), case.path) in DOMAIN_VALIDATED:
        excluded.append(checks.positive_data_acceptance)
    case.call_and_validate(base_url=live_url, headers=headers, timeout=10, excluded_checks=excluded)
