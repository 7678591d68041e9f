"""The API over memory or SQLite, with every verifier configured, for the attack tests."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.auth import (
    BearerVerifier,
    SessionTokens,
    SupabaseJwtVerifier,
    TelegramInitDataVerifier,
    sign_init_data,
)
from adapters.memory import MemoryStore
from adapters.replicate import ReplicateWebhooks, WebhookSecrets, sign
from adapters.system import SystemClock, UuidIds
from base_core import Context, Studio, builtin_registry
from base_core.ports import UnitOfWorkFactory
from base_testing import FakeInference
from entrypoints.bootstrap import Services, studio_config
from entrypoints.event_log import logging_dispatcher
from entrypoints.http import create_app
from entrypoints.settings import Settings

SUPABASE_URL = "https://attacked.supabase.co"
ISSUER = f"{SUPABASE_URL}/auth/v1"
SUPABASE_SECRET = "supabase-jwt-secret-" + "q" * 40
SESSION_SECRET = "session-secret-" + "z" * 48
BOT_TOKEN = "987654:ATTACK-test-bot-token"
REPLICATE_TOKEN = "r8_attack_token_secret_value_0001"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"attack-tests-webhook-key-0123456").decode()
ADMIN_ID = "00000000-0000-4000-8000-0000000000ad"
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
JWKS = {
    "keys": [
        {**jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True),
         "kid": "ec-1", "alg": "ES256", "use": "sig"},
        {**jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True),
         "kid": "rsa-1", "alg": "RS256", "use": "sig"},
    ]
}

CREATE_BODY = {
    "action": "create",
    "model_id": "flux-schnell",
    "prompt": "A beautiful sunset over mountains",
    "settings": {"aspect_ratio": "16:9", "num_outputs": 1},
}


def claims(user_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": user_id or str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "iss": ISSUER,
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }


def hs256(payload: dict[str, Any], key: str | bytes = SUPABASE_SECRET, **headers: Any) -> str:
    """HS256 by hand: PyJWT refuses a public key as an HMAC secret, an attacker does not."""
    key = key.encode() if isinstance(key, str) else key
    signing_input = f"{_b64(dict(alg='HS256', typ='JWT', **headers))}.{_b64(payload)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A JWS with `alg: none` (or any header) and an empty signature."""

    return f"{_b64(header or {'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


def webhook_headers(body: bytes, *, secret: str = WEBHOOK_SECRET, stamp: int | None = None,
                    delivery: str | None = None) -> dict[str, str]:
    delivery = delivery or f"msg_{uuid.uuid4().hex}"
    stamp = int(time.time()) if stamp is None else stamp
    return {
        "webhook-id": delivery,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, delivery, stamp, body),
        "content-type": "application/json",
    }


@attrs.define
class Api:
    client: AsyncTestClient[Any]
    studio: Studio
    inference: FakeInference
    sessions: SessionTokens

    def token(self, user_id: str | None = None) -> str:
        return hs256(claims(user_id))

    def auth(self, user_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id)}"}

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def admin(self) -> dict[str, str]:
        return self.auth(ADMIN_ID)

    def init_data(self, telegram_id: int = 4242, auth_date: int | None = None,
                  bot_token: str = BOT_TOKEN, **extra: str) -> str:
        fields = {
            "query_id": "AAE-attack",
            "user": json.dumps({"id": telegram_id, "first_name": "Eve", "username": "eve"}),
            "auth_date": str(int(time.time()) if auth_date is None else auth_date),
            **extra,
        }
        return sign_init_data(fields, bot_token)

    async def create(self, user_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/api/generations/create", json=body or CREATE_BODY, headers=self.auth(user_id)
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def credits(self, user_id: str) -> int:
        response = await self.client.get("/api/me", headers=self.auth(user_id))
        assert response.status_code == 200, response.text
        return response.json()["user"]["credits"]  # type: ignore[no-any-return]


def build_services(uow: UnitOfWorkFactory, inference: FakeInference) -> Services:
    settings = Settings(
        database_url="memory://",
        initial_credits=100,
        admin_user_ids=frozenset({ADMIN_ID}),
        max_in_flight_per_user=8,
    )
    sessions = SessionTokens(SESSION_SECRET)

    async def fetch_jwks(url: str) -> Any:
        return JWKS

    supabase = SupabaseJwtVerifier(SUPABASE_URL, SUPABASE_SECRET, fetch_jwks=fetch_jwks)
    context = Context(
        uow=uow,
        inference=inference,
        registry=builtin_registry(),
        clock=SystemClock(),
        ids=UuidIds(),
        config=studio_config(settings),
        dispatcher=logging_dispatcher(),
    )
    return Services(
        studio=Studio(context),
        bearer=BearerVerifier(session=sessions, supabase=supabase),
        webhooks=ReplicateWebhooks(WebhookSecrets.fixed(WEBHOOK_SECRET), SystemClock()),
        sessions=sessions,
        telegram=TelegramInitDataVerifier(BOT_TOKEN),
    )


@contextlib.asynccontextmanager
async def open_store(backend: str, workdir: Path) -> AsyncIterator[UnitOfWorkFactory]:
    if backend == "memory":
        yield MemoryStore()
        return
    from adapters.sql import SqlDatabase

    if backend == "sqlite":
        db = SqlDatabase.from_url(f"sqlite+aiosqlite:///{workdir / 'attack.db'}")
        await db.migrate()
        try:
            yield db.unit_of_work
        finally:
            await db.dispose()
        return
    url = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set (required in CI)")
    schema = f"attack_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        db = SqlDatabase.from_url(url, schema=schema)
        await db.migrate()
        try:
            yield db.unit_of_work
        finally:
            await db.dispose()
    finally:
        async with admin.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@contextlib.asynccontextmanager
async def open_api(backend: str, workdir: Path) -> AsyncIterator[Api]:
    async with open_store(backend, workdir) as uow:
        inference = FakeInference(SystemClock())
        services = build_services(uow, inference)
        await services.studio.add_token(REPLICATE_TOKEN, "attack")
        app = create_app(services)
        if backend == "postgres":
            # asyncpg connections belong to one event loop; AsyncTestClient serves the app
            # from a loop of its own, so PostgreSQL is driven in this loop instead.
            app.state.services = services
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as raw:
                yield Api(raw, services.studio, inference, services.sessions)  # type: ignore[arg-type]
            return
        async with AsyncTestClient(app=app) as client:
            yield Api(client, services.studio, inference, services.sessions)
