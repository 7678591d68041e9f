"""Keys, a JWKS endpoint behind httpx.MockTransport, a settable clock, and token minting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

import attrs
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.auth import SupabaseJwtVerifier

SUPABASE_URL = "https://abcdefghijklmnop.supabase.co"
ISSUER = f"{SUPABASE_URL}/auth/v1"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
NOW = 1_750_000_000.0


@attrs.define
class FakeClock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@attrs.frozen
class KeyPair:
    kid: str
    algorithm: str
    private: Any = attrs.field(repr=False)

    @property
    def public(self) -> Any:
        return self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        algorithms = jwt.algorithms
        algo = algorithms.ECAlgorithm if self.algorithm == "ES256" else algorithms.RSAAlgorithm
        data: dict[str, Any] = algo.to_jwk(self.public, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.algorithm, "use": "sig", "key_ops": ["verify"]}

    def public_pem(self) -> bytes:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_ec_key(kid: str | None = None) -> KeyPair:
    return KeyPair(kid or f"ec-{uuid.uuid4()}", "ES256", ec.generate_private_key(ec.SECP256R1()))


_RSA_CACHE: list[rsa.RSAPrivateKey] = []


def new_rsa_key(kid: str | None = None) -> KeyPair:
    # RSA generation is slow; one private key serves every test (kids still differ).
    if not _RSA_CACHE:
        _RSA_CACHE.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return KeyPair(kid or f"rsa-{uuid.uuid4()}", "RS256", _RSA_CACHE[0])


@attrs.define
class JwksServer:
    """The Supabase JWKS endpoint: counts fetches and can go down or serve garbage."""

    keys: list[KeyPair] = attrs.Factory(list)
    mode: str = "ok"  # "ok", "down", "garbage-json", "not-json", "empty"
    fetches: int = 0
    gate: Any = None  # an asyncio.Event that holds responses back, for concurrency tests

    async def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.mode == "down":
            return httpx.Response(503, text="upstream unavailable")
        if self.mode == "garbage-json":
            return httpx.Response(200, json={"hello": "world"})
        if self.mode == "not-json":
            return httpx.Response(200, text="<html>oops</html>")
        if self.mode == "empty":
            return httpx.Response(200, json={"keys": []})
        return httpx.Response(200, json={"keys": [key.jwk() for key in self.keys]})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(
    header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]
) -> str:
    """A compact JWS built by hand, for tokens PyJWT refuses to produce."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def hmac_signer(key: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(key, data, hashlib.sha256).digest()


@attrs.define
class Supabase:
    """Everything a Supabase test needs: clock, keys, endpoint, and token minting."""

    clock: FakeClock
    server: JwksServer
    ec_key: KeyPair
    rsa_key: KeyPair
    secret: str
    user_id: str = attrs.Factory(lambda: str(uuid.uuid4()))

    # Re-exported so test modules need nothing but this fixture.
    url = SUPABASE_URL
    issuer = ISSUER
    jwks_url = JWKS_URL
    DROP = object()  # pass as a claim's value to leave the claim out
    new_ec_key = staticmethod(new_ec_key)
    new_rsa_key = staticmethod(new_rsa_key)
    raw_token = staticmethod(raw_token)
    hmac_signer = staticmethod(hmac_signer)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock.now)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": self.user_id,
            "aud": "authenticated",
            "exp": now + 3600,
            "iat": now,
            "email": "ada@example.com",
            "phone": "",
            "role": "authenticated",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "is_anonymous": False,
            "session_id": str(uuid.uuid4()),
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not self.DROP}

    def hs256(self, **overrides: Any) -> str:
        return jwt.encode(self.claims(**overrides), self.secret, algorithm="HS256")

    def signed(self, key: KeyPair, kid: str | None = None, **overrides: Any) -> str:
        return jwt.encode(
            self.claims(**overrides), key.private, algorithm=key.algorithm,
            headers={"kid": kid or key.kid},
        )

    def verifier(self, **options: Any) -> SupabaseJwtVerifier:
        settings: dict[str, Any] = {
            "supabase_url": SUPABASE_URL,
            "jwt_secret": self.secret,
            "http_client": self.server.client(),
            "clock": self.clock,
        }
        settings.update(options)
        return SupabaseJwtVerifier(**settings)


def freeze_pyjwt_time(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """PyJWT checks exp/nbf/iat against `datetime.now`; make that now the test's clock."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.fromtimestamp(clock.now, tz or UTC)

    monkeypatch.setattr(jwt.api_jwt, "datetime", FrozenDatetime)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The verifiers' clock, which PyJWT's time checks follow too."""
    fake = FakeClock()
    freeze_pyjwt_time(monkeypatch, fake)
    return fake


@pytest.fixture
def supabase(clock: FakeClock) -> Supabase:
    ec_key, rsa_key = new_ec_key(), new_rsa_key()
    return Supabase(
        clock=clock,
        server=JwksServer(keys=[ec_key, rsa_key]),
        ec_key=ec_key,
        rsa_key=rsa_key,
        secret=secrets.token_urlsafe(48),
    )
