"""A real `base demo`, a real `base serve` (Telegram sign-in configured, the Replicate
simulator in a thread) and one headless Chromium per module."""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs
import pytest
from browser_support import Browser, require_browser
from live_server import BASE, call, child_env, free_port, stop, wait_until_healthy

from adapters.auth import SessionTokens, sign_init_data
from replicate_simulator import Simulator, SimulatorConfig

BOT_TOKEN = "123456:studio-browser-tests-bot-token"
ADMIN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://base.local/studio-admin"))
SUPABASE_SECRET = "studio-browser-tests-supabase-hs256-secret-0123456789"
SUPABASE_ANON_KEY = "studio-browser-tests-public-anon-key"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_browser()
    chromium = Browser()
    try:
        yield chromium
    finally:
        chromium.quit()


@attrs.frozen
class Demo:
    url: str  # the studio's address, as `base demo` prints it first


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    require_browser()
    workdir = tmp_path_factory.mktemp("demo")
    process = subprocess.Popen(
        [str(BASE), "demo", "--db", str(workdir / "base-demo.db"), "--port", str(free_port())],
        cwd=workdir, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("Studio: http://127.0.0.1:"), first
        url = first.split()[1]
        while not process.stdout.readline().startswith("OpenAPI:"):
            pass
        wait_until_healthy(url.rstrip("/"), process)
        yield Demo(url)
    finally:
        assert stop(process) == 0


class SupabaseStub:
    """Supabase Auth's `POST /auth/v1/otp` (the magic link), recorded, on loopback."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _cors(self) -> None:
                self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
                self.send_header("Access-Control-Allow-Headers", "apikey, authorization, content-type")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")

            def do_OPTIONS(self) -> None:  # noqa: N802 - the preflight
                self.send_response(204)
                self._cors()
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests.append({"path": self.path, "apikey": self.headers.get("apikey"),
                                      "body": json.loads(body or b"{}")})
                self.send_response(200)
                self._cors()
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SupabaseStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@attrs.frozen
class Served:
    url: str
    simulator_url: str
    sessions: SessionTokens
    supabase: SupabaseStub

    def supabase_token(self, user_id: str, email: str) -> str:
        import jwt

        now = int(time.time())
        claims = {"sub": user_id, "aud": "authenticated", "role": "authenticated", "email": email,
                  "iss": f"{self.supabase.url}/auth/v1", "iat": now, "exp": now + 3600}
        return jwt.encode(claims, SUPABASE_SECRET, algorithm="HS256")

    def init_data(self, telegram_id: int, username: str, first_name: str = "Ann") -> str:
        user = (f'{{"id":{telegram_id},"first_name":"{first_name}","username":"{username}",'
                '"language_code":"en"}')
        fields = {"auth_date": str(int(time.time())), "query_id": f"AAH{telegram_id}", "user": user}
        return sign_init_data(fields, BOT_TOKEN)

    def simulator(self, **settings: float) -> None:
        status, _ = call("PATCH", f"{self.simulator_url}/_sim/settings", settings)
        assert status == 200

    def fault(self, body: dict[str, object]) -> None:
        status, answer = call("POST", f"{self.simulator_url}/_sim/faults", body)
        assert status in (200, 201), answer


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """`base serve` with a Telegram bot token, Supabase (a stub of its Auth API), an admin,
    and the simulator."""
    require_browser()
    workdir = tmp_path_factory.mktemp("serve")
    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.2, processing_delay=0.6))
    session_secret = secrets.token_urlsafe(48)
    port = free_port()
    log_path = workdir / "serve.log"
    with simulator.running_in_thread() as running, open(log_path, "w") as log, SupabaseStub() as supabase:
        env = child_env(
            BASE_SUPABASE_URL=supabase.url,
            BASE_SUPABASE_JWT_SECRET=SUPABASE_SECRET,
            BASE_SUPABASE_ANON_KEY=SUPABASE_ANON_KEY,
            BASE_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'studio.db'}",
            BASE_REPLICATE_TOKENS="r8_studio_first_token_0001,r8_studio_second_token_0002",
            BASE_REPLICATE_BASE_URL=running.base_url,
            BASE_SESSION_SECRET=session_secret,
            BASE_TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            BASE_ADMIN_USER_IDS=ADMIN_ID,
            BASE_ALLOW_PRIVATE_IMAGE_URLS="true",
            BASE_RECONCILE_AFTER_SECONDS="2",
        )
        process = subprocess.Popen(
            [str(BASE), "serve", "--port", str(port)], cwd=workdir, env=env, stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            yield Served(url, running.base_url, SessionTokens(session_secret), supabase)
        finally:
            assert stop(process) == 0, log_path.read_text()
