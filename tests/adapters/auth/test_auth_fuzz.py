"""Whatever arrives, the verifiers answer with a result or Unauthenticated, nothing else."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.auth import (
    BearerVerifier,
    SessionTokens,
    SupabaseJwtVerifier,
    TelegramInitDataVerifier,
    TelegramUser,
    sign_init_data,
)
from base_core.errors import Unauthenticated
from base_core.identity import Identity

NOW = 1_750_000_000
URL = "https://fuzz.supabase.co"
SUPABASE_SECRET = "supabase-secret-" + "x" * 48
SESSION_SECRET = "session-secret-" + "y" * 48
BOT_TOKEN = "123456:fuzz-bot-token"
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_KID = "ec-fuzz"
EC_JWK = {**jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True),
          "kid": EC_KID, "alg": "ES256"}

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


async def _fetch(url: str) -> Any:
    return {"keys": [EC_JWK]}


def _clock() -> float:
    return NOW


SUPABASE = SupabaseJwtVerifier(URL, SUPABASE_SECRET, fetch_jwks=_fetch, clock=_clock)
SESSIONS = SessionTokens(SESSION_SECRET, clock=_clock)
BEARER = BearerVerifier(session=SESSIONS, supabase=SUPABASE)
TELEGRAM = TelegramInitDataVerifier(BOT_TOKEN, clock=_clock)


async def outcome(verifier: Any, token: Any) -> Identity | None:
    try:
        identity = await verifier.verify(token)
    except Unauthenticated:
        return None
    assert isinstance(identity, Identity)
    assert str(uuid.UUID(identity.user_id)) == identity.user_id
    return identity


def telegram_outcome(init_data: Any) -> TelegramUser | None:
    try:
        user = TELEGRAM.verify(init_data)
    except Unauthenticated:
        return None
    assert isinstance(user, TelegramUser) and user.id > 0
    assert abs(user.auth_date - NOW) <= 3600
    return user


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
claim_names = st.sampled_from(
    ["iss", "sub", "aud", "exp", "iat", "nbf", "role", "email", "is_anonymous"]
)
claim_values = (
    json_values
    | st.sampled_from([URL + "/auth/v1", "base", "authenticated", "anon", "base-session"])
    | st.uuids().map(str)
    | st.integers(min_value=NOW - 7200, max_value=NOW + 7200)
)
claims = st.dictionaries(claim_names | st.text(max_size=8), claim_values, max_size=10)
headers = st.dictionaries(
    st.sampled_from(["alg", "kid", "typ", "jku", "x5u", "crit"]) | st.text(max_size=5),
    st.sampled_from(["HS256", "ES256", "RS256", "none", "HS512", EC_KID, "JWT"]) | json_values,
    max_size=5,
)
jwt_shaped = st.builds(
    lambda header, payload, signature: ".".join(
        [b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()),
         b64url(signature)]
    ),
    headers | json_values,
    claims | json_values,
    st.binary(max_size=80),
)
bearer_verifiers = st.sampled_from([SUPABASE, SESSIONS, BEARER])


@FUZZ
@given(verifier=bearer_verifiers, token=st.text() | st.binary() | st.none() | st.integers())
async def test_jwt_verifiers_on_arbitrary_input(verifier, token):
    assert await outcome(verifier, token) is None


@FUZZ
@given(verifier=bearer_verifiers, raw=st.binary())
async def test_jwt_verifiers_on_arbitrary_bytes_as_text(verifier, raw):
    for text in (raw.decode("latin-1"), raw.decode("utf-8", "surrogateescape")):
        assert await outcome(verifier, text) is None


@FUZZ
@given(verifier=bearer_verifiers, token=jwt_shaped)
async def test_jwt_verifiers_on_jwt_shaped_garbage(verifier, token):
    assert await outcome(verifier, token) is None


@FUZZ
@given(
    verifier=bearer_verifiers,
    payload=claims,
    key=st.sampled_from(["supabase", "session", "ec"]),
)
async def test_jwt_verifiers_on_validly_signed_arbitrary_claims(verifier, payload, key):
    # The JWS layer signs any bytes; PyJWT's JWT layer would refuse some claim types.
    body = json.dumps(payload).encode()
    if key == "ec":
        token = jwt.api_jws.encode(body, EC_KEY, algorithm="ES256", headers={"kid": EC_KID})
    else:
        secret = SUPABASE_SECRET if key == "supabase" else SESSION_SECRET
        token = jwt.api_jws.encode(body, secret, algorithm="HS256")
    identity = await outcome(verifier, token)
    if identity is not None:
        # Anything accepted carried every claim the checks demand.
        assert payload["exp"] > NOW - 60 and payload["sub"].lower() == identity.user_id
        if identity.provider == "supabase":
            assert payload["role"] == "authenticated" and payload["iss"] == URL + "/auth/v1"
        else:
            assert payload["iss"] == "base" and payload["aud"] == "base-session"


@FUZZ
@given(init_data=st.text() | st.binary() | st.none())
def test_init_data_on_arbitrary_input(init_data):
    assert telegram_outcome(init_data) is None


@FUZZ
@given(raw=st.binary())
def test_init_data_on_arbitrary_bytes_as_text(raw):
    assert telegram_outcome(raw.decode("utf-8", "surrogateescape")) is None


query_like = st.lists(
    st.tuples(
        st.sampled_from(["hash", "user", "auth_date", "query_id", "signature"])
        | st.text(max_size=6),
        st.text(max_size=30),
    ),
    max_size=8,
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))


@FUZZ
@given(init_data=query_like)
def test_init_data_on_query_shaped_garbage(init_data):
    assert telegram_outcome(init_data) is None


field_keys = st.text(min_size=1, max_size=10).filter(
    lambda k: "=" not in k and "\n" not in k and k != "hash"
)
field_values = st.text(max_size=40).filter(lambda v: "\n" not in v)
user_json = st.one_of(
    st.builds(json.dumps, json_values),
    st.builds(
        lambda user_id, extra: json.dumps({"id": user_id, **extra}),
        st.integers(min_value=-5, max_value=2**53) | st.text(max_size=5),
        st.dictionaries(
            st.sampled_from(["first_name", "last_name", "username", "language_code",
                             "is_premium", "photo_url"]) | st.text(max_size=8),
            json_values, max_size=6,
        ),
    ),
)


@FUZZ
@given(
    fields=st.dictionaries(field_keys, field_values, max_size=6),
    user=user_json | st.none(),
    auth_date=(
        st.integers(min_value=NOW - 8000, max_value=NOW + 200).map(str)
        | field_values
        | st.none()
    ),
)
def test_init_data_validly_signed_with_arbitrary_fields(fields, user, auth_date):
    fields = {k: v for k, v in fields.items() if k not in ("user", "auth_date")}
    if user is not None:
        fields["user"] = user
    if auth_date is not None:
        fields["auth_date"] = auth_date
    if not fields:
        return
    try:
        init_data = sign_init_data(fields, BOT_TOKEN)
    except (ValueError, UnicodeError):
        return  # what sign_init_data refuses, Telegram never produces
    result = telegram_outcome(init_data)
    if result is not None:
        assert user is not None and json.loads(user)["id"] == result.id


@FUZZ
@given(position=st.integers(min_value=0), replacement=st.characters(), data=st.data())
def test_init_data_mutated_in_one_place(position, replacement, data):
    valid = sign_init_data(
        {"query_id": "AAH", "user": json.dumps({"id": 7, "first_name": "Ann"}),
         "auth_date": str(NOW), "signature": "c2lnbmF0dXJl"},
        BOT_TOKEN,
    )
    index = position % len(valid)
    mutated = valid[:index] + replacement + valid[index + 1:]
    result = telegram_outcome(mutated)
    if result is not None:
        # Only a mutation that decodes to the same fields may pass (e.g. %2C for ",").
        assert result.id == 7
