"""A feature whose settings are missing answers 503 naming the setting, and says so at start."""

from __future__ import annotations

import logging

import jwt
from litestar.testing import AsyncTestClient

from entrypoints.bootstrap import open_services
from entrypoints.http import create_app
from entrypoints.settings import Settings

BARE = Settings(database_url="memory://")


async def test_telegram_sign_in_without_a_bot_token_names_the_setting():
    async with open_services(BARE, background=False) as services:
        async with AsyncTestClient(app=create_app(services)) as client:
            response = await client.post("/api/auth/telegram", json={"initData": "user=1&hash=x"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["setting"] == "BASE_TELEGRAM_BOT_TOKEN"
    assert body["detail"] == "Telegram sign-in is not configured: set BASE_TELEGRAM_BOT_TOKEN"


async def test_a_supabase_token_without_supabase_settings_names_them():
    token = jwt.encode(
        {"sub": "5d1b7c3e-9a2f-4e6b-8c1d-0f3a2b4c6d8e", "aud": "authenticated", "role": "authenticated",
         "iss": "https://abc.supabase.co/auth/v1", "exp": 4102444800},
        "any-secret-of-at-least-thirty-two-chars", algorithm="HS256",
    )
    async with open_services(BARE, background=False) as services:
        async with AsyncTestClient(app=create_app(services)) as client:
            response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            # A token that is nobody's in particular is still just refused.
            other = jwt.encode({"sub": "x", "exp": 4102444800}, "k" * 32, algorithm="HS256")
            refused = await client.get("/api/me", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 503
    assert response.json()["setting"] == "BASE_SUPABASE_URL, BASE_SUPABASE_JWT_SECRET"
    assert "Supabase sign-in is not configured" in response.json()["detail"]
    assert refused.status_code == 401


async def test_start_up_says_once_which_features_are_off(caplog):
    caplog.set_level(logging.WARNING, logger="base")
    async with open_services(BARE):
        pass
    off = [r.getMessage() for r in caplog.records if " is off: set " in r.getMessage()]
    assert off == [
        "Telegram sign-in is off: set BASE_TELEGRAM_BOT_TOKEN to turn it on",
        "Supabase sign-in is off: set BASE_SUPABASE_URL or BASE_SUPABASE_JWT_SECRET to turn it on",
        "Payments in Telegram Stars is off: set BASE_TELEGRAM_BOT_TOKEN and BASE_TELEGRAM_WEBHOOK_SECRET"
        " to turn it on",
        "Payments with Stripe Checkout is off: set BASE_STRIPE_SECRET_KEY and BASE_STRIPE_WEBHOOK_SECRET"
        " to turn it on",
    ]
    caplog.clear()
    configured = Settings(
        database_url="memory://", telegram_bot_token="1:x", supabase_jwt_secret="s" * 32,
        telegram_webhook_secret="w" * 32, stripe_secret_key="sk_test_x", stripe_webhook_secret="whsec_x",
    )
    async with open_services(configured):
        pass
    assert not [r for r in caplog.records if " is off: set " in r.getMessage()]
