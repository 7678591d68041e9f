"""SessionTokens and BearerVerifier."""

from __future__ import annotations

import uuid

import jwt
import pytest

from adapters.auth import SESSION_AUDIENCE, BearerVerifier, SessionTokens
from base_core.errors import Unauthenticated
from base_core.identity import Identity

SECRET = "session-secret-for-tests-" + "0123456789abcdef" * 3


@pytest.fixture
def sessions(clock) -> SessionTokens:
    return SessionTokens(SECRET, ttl_seconds=3600, clock=clock)


async def refused(verifier, token) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    return caught.value


async def test_issue_then_verify(sessions):
    user_id = str(uuid.uuid4())
    token = sessions.issue(user_id)
    assert await sessions.verify(token) == Identity(user_id=user_id, provider="telegram")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "base" and claims["aud"] == SESSION_AUDIENCE
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_default_lifetime_is_thirty_days(clock):
    token = SessionTokens(SECRET, clock=clock).issue(str(uuid.uuid4()))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600


def test_issue_refuses_a_non_uuid(sessions):
    with pytest.raises(ValueError):
        sessions.issue("telegram:42")


async def test_expired(sessions, clock):
    token = sessions.issue(str(uuid.uuid4()))
    clock.advance(3600 + 29)
    await sessions.verify(token)  # within the leeway
    clock.advance(1)
    assert "expired" in str(await refused(sessions, token))


async def test_tampered(sessions):
    token = sessions.issue(str(uuid.uuid4()))
    header, payload, signature = token.split(".")
    other = sessions.issue(str(uuid.uuid4())).split(".")[1]
    await refused(sessions, f"{header}.{other}.{signature}")
    await refused(sessions, f"{header}.{payload}.{signature[:-2]}AA")
    await refused(sessions, f"{header}.{payload}.")


async def test_wrong_secret(sessions, clock):
    token = SessionTokens("another-session-secret-0123456789abcdef", clock=clock).issue(
        str(uuid.uuid4())
    )
    assert "signature" in str(await refused(sessions, token))


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "someone-else"},
        {"aud": "authenticated"},
        {"sub": "42"},
        {"exp": None},
        {"iat": None},
    ],
)
async def test_wrong_claims_with_the_right_secret(sessions, clock, claims):
    now = int(clock.now)
    base = {"sub": str(uuid.uuid4()), "iat": now, "exp": now + 60, "iss": "base",
            "aud": SESSION_AUDIENCE}
    merged = {k: v for k, v in {**base, **claims}.items() if v is not None}
    await refused(sessions, jwt.encode(merged, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
async def test_other_hmac_algorithms_are_refused(sessions, clock, alg):
    now = int(clock.now)
    claims = {"sub": str(uuid.uuid4()), "iat": now, "exp": now + 60, "iss": "base",
              "aud": SESSION_AUDIENCE}
    await refused(sessions, jwt.encode(claims, SECRET, algorithm=alg))


async def test_alg_none_is_refused(sessions, supabase, clock):
    now = int(clock.now)
    claims = {"sub": str(uuid.uuid4()), "iat": now, "exp": now + 60, "iss": "base",
              "aud": SESSION_AUDIENCE}
    await refused(sessions, supabase.raw_token({"alg": "none"}, claims, lambda _: b""))


def test_configuration_errors():
    with pytest.raises(ValueError):
        SessionTokens("short")
    with pytest.raises(ValueError):
        SessionTokens(SECRET, ttl_seconds=0)
    with pytest.raises(ValueError):
        SessionTokens(SECRET, issuer="")


# --- BearerVerifier ------------------------------------------------------------------------


async def test_routes_session_and_supabase_tokens(sessions, supabase):
    bearer = BearerVerifier(session=sessions, supabase=supabase.verifier())
    user_id = str(uuid.uuid4())
    assert (await bearer.verify(sessions.issue(user_id))).provider == "telegram"
    for token in (supabase.hs256(), supabase.signed(supabase.ec_key)):
        identity = await bearer.verify(token)
        assert (identity.provider, identity.user_id) == ("supabase", supabase.user_id)


async def test_refuses_what_no_verifier_is_configured_for(sessions, supabase):
    session_only = BearerVerifier(session=sessions)
    await refused(session_only, supabase.hs256())
    supabase_only = BearerVerifier(supabase=supabase.verifier())
    await refused(supabase_only, sessions.issue(str(uuid.uuid4())))
    await refused(BearerVerifier(), sessions.issue(str(uuid.uuid4())))


async def test_refuses_unknown_issuers(sessions, supabase):
    bearer = BearerVerifier(session=sessions, supabase=supabase.verifier())
    await refused(bearer, supabase.hs256(iss="https://evil.example/auth/v1"))
    await refused(bearer, supabase.hs256(iss=supabase.DROP))


async def test_a_forged_issuer_only_picks_who_refuses(sessions, supabase):
    bearer = BearerVerifier(session=sessions, supabase=supabase.verifier())
    # A Supabase-signed token claiming the session issuer goes to the session verifier.
    await refused(bearer, supabase.hs256(iss="base", aud=SESSION_AUDIENCE))


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "e30.W10.", None, b"..", "é.é.é"])
async def test_garbage_is_refused(sessions, supabase, token):
    await refused(BearerVerifier(session=sessions, supabase=supabase.verifier()), token)
