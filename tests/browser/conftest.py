"""A real `base demo`, a real `base serve` (Telegram and Supabase sign-in configured, the
Replicate simulator in a thread) and one headless Chromium per module."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest
from browser_servers import (
    ADMIN_ID,
    BOT_TOKEN,
    SUPABASE_ANON_KEY,
    SUPABASE_SECRET,
    Demo,
    Served,
    SupabaseStub,
)
from browser_support import Browser, require_browser

from adapters.auth import SessionTokens
from live_server import BASE, child_env, free_port, stop, wait_until_healthy
from payment_simulator import PaymentSimulator
from replicate_simulator import Simulator, SimulatorConfig


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_browser()
    chromium = Browser()
    try:
        yield chromium
    finally:
        chromium.quit()


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
    payments = PaymentSimulator(bot_token=BOT_TOKEN)  # Telegram's Bot API, for Stars
    with simulator.running_in_thread() as running, open(log_path, "w") as log, SupabaseStub() as supabase, \
            payments.running_in_thread() as paying:
        env = child_env(
            BASE_SUPABASE_URL=supabase.url,
            BASE_SUPABASE_JWT_SECRET=SUPABASE_SECRET,
            BASE_SUPABASE_ANON_KEY=SUPABASE_ANON_KEY,
            BASE_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'studio.db'}",
            BASE_REPLICATE_TOKENS="r8_studio_first_token_0001,r8_studio_second_token_0002",
            BASE_REPLICATE_BASE_URL=running.base_url,
            BASE_SESSION_SECRET=session_secret,
            BASE_TELEGRAM_BOT_TOKEN=BOT_TOKEN,
            BASE_TELEGRAM_API_URL=paying.base_url,
            BASE_TELEGRAM_WEBHOOK_SECRET=secrets.token_urlsafe(24),
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
