"""Helpers for the API tests: memory services, token minting, signed webhooks."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import attrs
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from litestar.testing import AsyncTestClient

from adapters.auth import SessionTokens, sign_init_data
from adapters.memory import MemoryStore
from adapters.replicate import ReplicateWebhooks, WebhookSecrets, sign
from adapters.system import SystemClock, UuidIds
from base_core import Context, Studio, builtin_registry
from base_testing import FakeInference
from entrypoints.bootstrap import Services, studio_config
from entrypoints.event_log import logging_dispatcher
from entrypoints.http import create_app
from entrypoints.settings import Settings

SUPABASE_URL = "https://testproject.supabase.co"
ISSUER = f"{SUPABASE_URL}/auth/v1"
SUPABASE_SECRET = "s" * 40
SESSION_SECRET = "session-secret-" + "x" * 40
BOT_TOKEN = "123456:TEST-bot-token"
ADMIN_ID = "00000000-0000-4000-8000-00000000a0a0"


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-key-for-tests-0123456789").decode()


def sign_webhook(delivery: str, stamp: str, body: bytes) -> str:
    return sign(WEBHOOK_SECRET, delivery, int(stamp), body)


def webhook_headers(body: bytes, delivery: str | None = None) -> dict[str, str]:
    delivery = delivery or f"msg_{uuid.uuid4().hex}"
    stamp = str(int(time.time()))
    return {
        "webhook-id": delivery,
        "webhook-timestamp": stamp,
        "webhook-signature": sign_webhook(delivery, stamp, body),
        "content-type": "application/json",
    }


@attrs.define
class Api:
    client: AsyncTestClient[Any]
    studio: Studio
    inference: FakeInference
    sessions: SessionTokens
    ec_key: Any

    def supabase_token(self, user_id: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "sub": user_id or str(uuid.uuid4()),
            "aud": "authenticated",
            "role": "authenticated",
            "iss": ISSUER,
            "iat": now,
            "exp": now + 3600,
            **claims,
        }
        return jwt.encode(payload, SUPABASE_SECRET, algorithm="HS256")

    def es256_token(self, user_id: str) -> str:
        now = int(time.time())
        payload = {"sub": user_id, "aud": "authenticated", "role": "authenticated", "iss": ISSUER,
                   "iat": now, "exp": now + 3600}
        return jwt.encode(payload, self.ec_key, algorithm="ES256", headers={"kid": "test-ec"})

    def auth(self, user_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.supabase_token(user_id)}"}

    def admin(self) -> dict[str, str]:
        return self.auth(ADMIN_ID)

    def init_data(self, telegram_id: int = 777, auth_date: int | None = None, **user: Any) -> str:
        profile = {"id": telegram_id, "first_name": "Ann", "username": "ann", **user}
        fields = {
            "query_id": "AAE-test",
            "user": json.dumps(profile),
            "auth_date": str(auth_date if auth_date is not None else int(time.time())),
        }
        return sign_init_data(fields, BOT_TOKEN)


def build_services(store: MemoryStore, inference: FakeInference, ec_key: Any) -> tuple[Services, SessionTokens]:
    settings = Settings(
        database_url="memory://",
        supabase_url=SUPABASE_URL,
        supabase_jwt_secret=SUPABASE_SECRET,
        telegram_bot_token=BOT_TOKEN,
        initial_credits=100,
        admin_user_ids=frozenset({ADMIN_ID}),
        max_in_flight_per_user=3,
    )
    sessions = SessionTokens(SESSION_SECRET)
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)

    async def fetch_jwks(url: str) -> Any:
        return {"keys": [{**jwk, "kid": "test-ec", "alg": "ES256", "use": "sig"}]}

    from adapters.auth import BearerVerifier, SupabaseJwtVerifier, TelegramInitDataVerifier

    supabase = SupabaseJwtVerifier(SUPABASE_URL, SUPABASE_SECRET, fetch_jwks=fetch_jwks)
    context = Context(
        uow=store,
        inference=inference,
        registry=builtin_registry(),
        clock=SystemClock(),
        ids=UuidIds(),
        config=studio_config(settings),
        dispatcher=logging_dispatcher(),
    )
    services = Services(
        studio=Studio(context),
        bearer=BearerVerifier(session=sessions, supabase=supabase),
        webhooks=ReplicateWebhooks(WebhookSecrets.fixed(WEBHOOK_SECRET), SystemClock()),
        sessions=sessions,
        telegram=TelegramInitDataVerifier(BOT_TOKEN),
    )
    return services, sessions


CREATE_BODY = {
    "action": "create",
    "model_id": "flux-schnell",
    "prompt": "A beautiful sunset over mountains",
    "settings": {"aspect_ratio": "16:9", "num_outputs": 1},
}
