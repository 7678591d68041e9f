"""`base check` over a real process: a table of every check, which tokens Replicate takes
(against the simulator), Supabase's JWKS (a local server), the output store, the schema."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from ops_helpers import run_base

from adapters.sql.migrations import upgrade
from live_server import child_env
from payment_simulator import DEFAULT_BOT_TOKEN, DEFAULT_STRIPE_KEY, DEFAULT_STRIPE_WEBHOOK_SECRET, PaymentSimulator
from replicate_simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.slow

GOOD = "r8_check_good_token_0000001"
BAD = "r8_check_unknown_token_0002"


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(tokens=(GOOD,))).running_in_thread() as running:
        yield running


@pytest.fixture(scope="module")
def supabase() -> Iterator[str]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
    jwks = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "ES256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/auth/v1/.well-known/jwks.json"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks if found else b"{}")

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def payments() -> Iterator[str]:
    with PaymentSimulator().running_in_thread() as running:
        yield running.base_url


def _rows(stdout: str) -> dict[str, tuple[str, str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["check", "result", "detail"], stdout
    rows = {}
    for line in lines[2:]:
        for result in ("  ok", "  FAIL", "  skip"):
            name, found, detail = line.partition(result + " ")
            if found or line.rstrip().endswith(result):
                rows[name.strip()] = (result.strip(), detail.strip())
                break
    return rows


def test_a_healthy_deployment_passes_every_check(
    tmp_path: Path, simulator: Simulator, supabase: str, payments: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'base.db'}"
    upgrade(url)
    env = child_env(
        BASE_DATABASE_URL=url, BASE_REPLICATE_TOKENS=GOOD, BASE_REPLICATE_BASE_URL=simulator.base_url,
        BASE_SUPABASE_URL=supabase, BASE_OUTPUT_DIR=str(tmp_path / "outputs"),
        BASE_TELEGRAM_BOT_TOKEN=DEFAULT_BOT_TOKEN, BASE_TELEGRAM_API_URL=payments,
        BASE_TELEGRAM_WEBHOOK_SECRET="check-webhook-secret",
        BASE_STRIPE_SECRET_KEY=DEFAULT_STRIPE_KEY, BASE_STRIPE_WEBHOOK_SECRET=DEFAULT_STRIPE_WEBHOOK_SECRET,
        BASE_STRIPE_API_URL=payments,
    )
    result = run_base(["check"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert rows["settings"][0] == rows["database"][0] == rows["migrations"][0] == "ok"
    assert rows[f"replicate token #1 of BASE_REPLICATE_TOKENS (r8_…{GOOD[-4:]})"][0] == "ok"
    assert rows["supabase jwks"] == ("ok", f"1 signing key(s) at {supabase}/auth/v1/.well-known/jwks.json")
    assert rows["output store"][0] == "ok"
    assert not list((tmp_path / "outputs").rglob("*.png"))  # the probe is gone
    assert rows["telegram bot"] == ("ok", "@base_sim_bot (Stars on)")
    assert rows["stripe"] == ("ok", "the key works (test)")
    shown = result.stdout + result.stderr
    assert GOOD not in shown and DEFAULT_BOT_TOKEN not in shown and DEFAULT_STRIPE_KEY not in shown


def test_it_reports_which_tokens_work_and_what_else_is_wrong(
    tmp_path: Path, simulator: Simulator, supabase: str, payments: str
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the output directory should be")
    env = child_env(
        BASE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'base.db'}",
        BASE_REPLICATE_TOKENS=f"{GOOD},{BAD}", BASE_REPLICATE_BASE_URL=simulator.base_url,
        BASE_SUPABASE_URL=f"{supabase}/nowhere", BASE_OUTPUT_DIR=str(blocked),
        BASE_TELEGRAM_BOT_TOKEN="999:not-the-bots-token", BASE_TELEGRAM_API_URL=payments,
        BASE_STRIPE_SECRET_KEY="sk_test_not_the_key", BASE_STRIPE_API_URL=payments,
    )
    upgrade(env["BASE_DATABASE_URL"])
    result = run_base(["check"], env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert rows[f"replicate token #1 of BASE_REPLICATE_TOKENS (r8_…{GOOD[-4:]})"][0] == "ok"
    bad = rows[f"replicate token #2 of BASE_REPLICATE_TOKENS (r8_…{BAD[-4:]})"]
    assert bad[0] == "FAIL" and "rejected" in bad[1]
    assert rows["supabase jwks"][0] == "FAIL"
    assert rows["output store"][0] == "FAIL"
    assert rows["telegram bot"][0] == "FAIL" and rows["stripe"][0] == "FAIL"
    shown = result.stdout + result.stderr
    assert BAD not in shown and "not-the-bots-token" not in shown and "sk_test_not_the_key" not in shown
    assert "Traceback" not in result.stderr


def test_a_newer_schema_and_a_bad_setting_fail_their_rows(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    upgrade(f"sqlite+aiosqlite:///{newer}")
    import sqlite3

    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    result = run_base(["check"], child_env(BASE_DATABASE_URL=f"sqlite+aiosqlite:///{newer}"), tmp_path)
    assert result.returncode == 1
    assert _rows(result.stdout)["migrations"][0] == "FAIL" and "newer than this code" in result.stdout

    result = run_base(["check"], child_env(BASE_MAX_IN_FLIGHT_PER_USER="none"), tmp_path)
    assert result.returncode == 1
    assert _rows(result.stdout) == {"settings": ("FAIL", "BASE_MAX_IN_FLIGHT_PER_USER: expected `int`, got `str`")}
