"""SupabaseJwtVerifier: algorithms, claims, and the JWKS cache."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from adapters.auth import SupabaseJwtVerifier
from base_core.errors import Unauthenticated
from base_core.identity import Identity

AUDIENCE_REASONS = ("token is not for this audience", "token has no aud")
ISSUER_REASONS = ("token is from another issuer", "token has no iss")
SUBJECT_REASONS = ("token subject is not a user id", "token has no sub")


async def refused(verifier: Any, token: Any, reason: str, *or_reasons: str) -> Unauthenticated:
    """The token is refused, for `reason` (or one of `or_reasons`), and the error shows none of it."""
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    assert caught.value.message in (reason, *or_reasons)
    if isinstance(token, str) and len(token) > 8:
        assert token not in str(caught.value)
        for segment in token.split("."):
            assert len(segment) < 8 or segment not in str(caught.value)
    return caught.value


# --- valid tokens -------------------------------------------------------------------------


async def test_hs256_with_the_shared_secret(supabase):
    identity = await supabase.verifier().verify(supabase.hs256())
    assert identity == Identity(
        user_id=supabase.user_id, provider="supabase", email="ada@example.com"
    )


async def test_es256_through_the_jwks(supabase):
    identity = await supabase.verifier().verify(supabase.signed(supabase.ec_key))
    assert identity.user_id == supabase.user_id
    assert identity.provider == "supabase"


async def test_rs256_through_the_jwks(supabase):
    identity = await supabase.verifier().verify(supabase.signed(supabase.rsa_key))
    assert identity.user_id == supabase.user_id


async def test_user_id_is_canonical_lower_case(supabase):
    upper = supabase.user_id.upper()
    identity = await supabase.verifier().verify(supabase.hs256(sub=upper))
    assert identity.user_id == supabase.user_id


async def test_email_absent_or_empty_is_none(supabase):
    verifier = supabase.verifier()
    assert (await verifier.verify(supabase.hs256(email=supabase.DROP))).email is None
    assert (await verifier.verify(supabase.hs256(email=""))).email is None


async def test_audience_may_be_a_list(supabase):
    token = supabase.hs256(aud=["authenticated", "other"])
    assert (await supabase.verifier().verify(token)).user_id == supabase.user_id


async def test_secret_only_does_not_check_the_issuer(supabase):
    verifier = SupabaseJwtVerifier(jwt_secret=supabase.secret, clock=supabase.clock)
    assert (await verifier.verify(supabase.hs256(iss="https://elsewhere"))).user_id
    await refused(verifier, supabase.signed(supabase.ec_key), "unsupported token algorithm")  # no JWKS without a URL


async def test_datetime_clock_and_injected_fetch(supabase):
    fetched: list[str] = []

    async def fetch(url: str) -> Any:
        fetched.append(url)
        return {"keys": [supabase.ec_key.jwk()]}

    verifier = SupabaseJwtVerifier(
        supabase.url,
        fetch_jwks=fetch,
        clock=lambda: datetime.fromtimestamp(supabase.clock.now, tz=UTC),
    )
    assert (await verifier.verify(supabase.signed(supabase.ec_key))).user_id == supabase.user_id
    assert fetched == [supabase.jwks_url]
    await refused(verifier, supabase.hs256(), "unsupported token algorithm")  # no shared secret configured


# --- algorithms ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
async def test_unsigned_tokens_are_refused(supabase, alg):
    token = supabase.raw_token({"alg": alg, "typ": "JWT"}, supabase.claims(), lambda _: b"")
    await refused(supabase.verifier(), token, "unsupported token algorithm")
    await refused(supabase.verifier(), token.rsplit(".", 1)[0] + ".", "unsupported token algorithm")


@pytest.mark.parametrize("key_name", ["ec_key", "rsa_key"])
async def test_hs256_keyed_with_a_public_key_is_refused(supabase, key_name):
    key = getattr(supabase, key_name)
    for hmac_key in (key.public_pem(), json.dumps(key.jwk()).encode()):
        for header in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "kid": key.kid}):
            token = supabase.raw_token(header, supabase.claims(), supabase.hmac_signer(hmac_key))
            await refused(supabase.verifier(), token, "invalid token signature")
            jwks_only = supabase.verifier(jwt_secret=None)
            await refused(jwks_only, token, "unsupported token algorithm")


async def test_rs256_token_naming_an_ec_kid_is_refused(supabase):
    token = supabase.signed(supabase.rsa_key, kid=supabase.ec_key.kid)
    error = await refused(supabase.verifier(), token, "token algorithm does not match its key")
    assert "algorithm" in str(error)


async def test_es256_token_naming_an_rsa_kid_is_refused(supabase):
    await refused(supabase.verifier(), supabase.signed(supabase.ec_key, kid=supabase.rsa_key.kid), "token algorithm does not match its key")


@pytest.mark.parametrize("alg", ["HS384", "HS512", "RS512", "PS256", "ES384", "EdDSA"])
async def test_algorithms_outside_the_allow_list_are_refused(supabase, alg):
    token = supabase.raw_token(
        {"alg": alg, "kid": supabase.rsa_key.kid}, supabase.claims(),
        supabase.hmac_signer(supabase.secret.encode()),
    )
    await refused(supabase.verifier(), token, "unsupported token algorithm")


async def test_asymmetric_token_without_kid_is_refused(supabase):
    token = jwt.encode(supabase.claims(), supabase.ec_key.private, algorithm="ES256")
    await refused(supabase.verifier(), token, "token has no key id")


async def test_signed_by_a_key_outside_the_jwks_is_refused(supabase):
    stranger = supabase.new_ec_key(kid=supabase.ec_key.kid)  # same kid, other key
    await refused(supabase.verifier(), supabase.signed(stranger), "invalid token signature")


async def test_hs256_with_another_secret_is_refused(supabase):
    token = jwt.encode(supabase.claims(), "another-secret-" * 4, algorithm="HS256")
    await refused(supabase.verifier(), token, "invalid token signature")


async def test_tampered_payload_is_refused(supabase):
    header, _, signature = supabase.hs256().split(".")
    forged = supabase.raw_token({}, supabase.claims(sub=str(uuid.uuid4())), lambda _: b"")
    await refused(supabase.verifier(), f"{header}.{forged.split('.')[1]}.{signature}", "invalid token signature")


# --- claims --------------------------------------------------------------------------------


async def test_expired_token_is_refused(supabase):
    verifier = supabase.verifier(leeway_seconds=30)
    token = supabase.hs256(exp=int(supabase.clock.now) - 31)
    assert "expired" in str(await refused(verifier, token, "token expired"))


async def test_expiry_within_the_leeway_is_accepted(supabase):
    verifier = supabase.verifier(leeway_seconds=30)
    token = supabase.hs256(exp=int(supabase.clock.now) - 10)
    assert (await verifier.verify(token)).user_id == supabase.user_id
    supabase.clock.advance(25)
    await refused(verifier, token, "token expired")


async def test_token_expires_as_the_clock_moves(supabase):
    verifier = supabase.verifier(leeway_seconds=0)
    token = supabase.signed(supabase.ec_key)
    await verifier.verify(token)
    supabase.clock.advance(3600)
    await refused(verifier, token, "token expired")


@pytest.mark.parametrize(
    ("exp", "reason"),
    [
        ("DROP", "token has no exp"),
        (None, "token has no exp"),
        ("soon", "token has an invalid exp"),
        (True, "token expired"),  # PyJWT reads true as 1, long past
        (float("nan"), "token has an invalid exp"),
        (float("inf"), "token has an invalid exp"),
        ([1], "token has an invalid exp"),
        (str(2_000_000_000), "token has an invalid exp"),  # PyJWT alone would take the text
    ],
)
async def test_missing_or_malformed_exp_is_refused(supabase, exp, reason):
    value = supabase.DROP if exp == "DROP" else exp
    await refused(supabase.verifier(), supabase.hs256(exp=value), reason)


async def test_not_before_and_issued_in_the_future_are_refused(supabase):
    later = int(supabase.clock.now) + 600
    await refused(supabase.verifier(), supabase.hs256(nbf=later), "token not yet valid")
    await refused(supabase.verifier(), supabase.hs256(iat=later), "token issued in the future")
    await refused(supabase.verifier(), supabase.hs256(nbf=str(later - 1200)), "token has an invalid nbf")
    await refused(supabase.verifier(), supabase.hs256(iat=str(later - 1200)), "token has an invalid iat")


@pytest.mark.parametrize("aud", ["anon", "service_role", "", ["other"], "DROP"])
async def test_wrong_audience_is_refused(supabase, aud):
    token = supabase.hs256(aud=supabase.DROP if aud == "DROP" else aud)
    await refused(supabase.verifier(), token, *AUDIENCE_REASONS)


@pytest.mark.parametrize(
    "iss",
    ["https://other.supabase.co/auth/v1", "https://abcdefghijklmnop.supabase.co", "", "DROP"],
)
async def test_wrong_issuer_is_refused(supabase, iss):
    token = supabase.signed(supabase.ec_key, iss=supabase.DROP if iss == "DROP" else iss)
    await refused(supabase.verifier(), token, *ISSUER_REASONS)


async def test_trailing_slash_in_the_project_url_is_ignored(supabase):
    verifier = supabase.verifier(supabase_url=supabase.url + "/")
    assert (await verifier.verify(supabase.signed(supabase.ec_key))).user_id == supabase.user_id


@pytest.mark.parametrize("role", ["anon", "service_role", "", None, "DROP"])
async def test_role_other_than_authenticated_is_refused(supabase, role):
    value = supabase.DROP if role == "DROP" else role
    await refused(supabase.verifier(), supabase.hs256(role=value), "token is not for a signed-in user")


@pytest.mark.parametrize(
    "sub",
    ["", "anonymous", "42", "{%s}" % uuid.uuid4(), uuid.uuid4().hex, f"urn:uuid:{uuid.uuid4()}",
     f"{uuid.uuid4()}\n", 42, None, "DROP"],
)
async def test_subject_that_is_not_a_uuid_is_refused(supabase, sub):
    token = supabase.hs256(sub=supabase.DROP if sub == "DROP" else sub)
    await refused(supabase.verifier(), token, *SUBJECT_REASONS)


async def test_anonymous_users_can_be_refused(supabase):
    token = supabase.hs256(is_anonymous=True)
    assert (await supabase.verifier().verify(token)).user_id == supabase.user_id
    await refused(supabase.verifier(allow_anonymous_users=False), token, "anonymous users may not sign in")


@pytest.mark.parametrize(
    "token",
    ["", " ", "Bearer", "abc", "a.b", "a.b.c", "a.b.c.d", "...", "..", "ey.ey.ey",
     "eyJhbGciOiJIUzI1NiJ9.e30.", "eyJhbGciOiJIUzI1NiJ9..", "\x00.\x00.\x00",
     "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", "W10.e30.c2ln", "x" * 20000,
     None, b"a.b.c", 42],
)
async def test_garbage_is_refused(supabase, token):
    await refused(supabase.verifier(), token, "malformed token", "invalid token signature")


# --- JWKS cache ----------------------------------------------------------------------------


async def test_jwks_is_fetched_once_and_cached(supabase):
    verifier = supabase.verifier()
    for _ in range(3):
        await verifier.verify(supabase.signed(supabase.ec_key))
        await verifier.verify(supabase.signed(supabase.rsa_key))
    assert supabase.server.fetches == 1


async def test_hs256_never_fetches_the_jwks(supabase):
    await supabase.verifier().verify(supabase.hs256())
    assert supabase.server.fetches == 0


async def test_jwks_is_refetched_after_its_ttl(supabase):
    verifier = supabase.verifier(jwks_ttl_seconds=600)
    await verifier.verify(supabase.signed(supabase.ec_key))
    supabase.clock.advance(599)
    await verifier.verify(supabase.signed(supabase.ec_key))
    assert supabase.server.fetches == 1
    supabase.clock.advance(1)
    await verifier.verify(supabase.signed(supabase.ec_key))
    assert supabase.server.fetches == 2


async def test_unknown_kid_refetches_at_a_limited_rate(supabase):
    verifier = supabase.verifier(min_refetch_interval=30)
    await verifier.verify(supabase.signed(supabase.ec_key))
    assert supabase.server.fetches == 1
    supabase.clock.advance(31)
    assert "unknown" in str(await refused(verifier, supabase.signed(supabase.ec_key, kid="nope-1"), "unknown signing key"))
    assert supabase.server.fetches == 2
    # Made-up kids in a burst cost nothing more until the interval has passed.
    for n in range(5):
        await refused(verifier, supabase.signed(supabase.ec_key, kid=f"nope-{n + 2}"), "unknown signing key")
    assert supabase.server.fetches == 2
    supabase.clock.advance(30)
    await refused(verifier, supabase.signed(supabase.ec_key, kid="nope-9"), "unknown signing key")
    assert supabase.server.fetches == 3


async def test_key_rotation_picks_up_a_new_kid(supabase):
    verifier = supabase.verifier()
    await verifier.verify(supabase.signed(supabase.ec_key))
    rotated = supabase.new_ec_key()
    supabase.server.keys.append(rotated)
    supabase.clock.advance(60)  # well within the TTL: the unknown kid alone triggers it
    assert (await verifier.verify(supabase.signed(rotated))).user_id == supabase.user_id
    assert supabase.server.fetches == 2
    # The old key stays valid while it is published, and is dropped once revoked.
    await verifier.verify(supabase.signed(supabase.ec_key))
    supabase.server.keys.remove(supabase.ec_key)
    supabase.clock.advance(600)
    await refused(verifier, supabase.signed(supabase.ec_key), "unknown signing key")
    await verifier.verify(supabase.signed(rotated))


async def test_rotation_right_after_a_fetch_waits_for_the_interval(supabase):
    verifier = supabase.verifier(min_refetch_interval=30)
    await verifier.verify(supabase.signed(supabase.ec_key))
    rotated = supabase.new_ec_key()
    supabase.server.keys.append(rotated)
    await refused(verifier, supabase.signed(rotated), "unknown signing key")
    supabase.clock.advance(30)
    assert (await verifier.verify(supabase.signed(rotated))).user_id == supabase.user_id


@pytest.mark.parametrize("mode", ["down", "garbage-json", "not-json", "empty"])
async def test_failed_refresh_keeps_the_last_good_set(supabase, mode):
    verifier = supabase.verifier()
    await verifier.verify(supabase.signed(supabase.ec_key))
    supabase.server.mode = mode
    supabase.clock.advance(3600)
    await verifier.verify(supabase.signed(supabase.ec_key))
    await verifier.verify(supabase.signed(supabase.rsa_key))
    assert supabase.server.fetches == 2  # the failure is not retried on every request
    supabase.clock.advance(30)
    await verifier.verify(supabase.signed(supabase.ec_key))
    assert supabase.server.fetches == 3
    supabase.server.mode = "ok"
    supabase.clock.advance(30)
    await verifier.verify(supabase.signed(supabase.ec_key))
    assert supabase.server.fetches == 4


async def test_endpoint_down_from_the_start_refuses_cleanly(supabase):
    supabase.server.mode = "down"
    verifier = supabase.verifier()
    await refused(verifier, supabase.signed(supabase.ec_key), "unknown signing key")
    supabase.server.mode = "ok"
    supabase.clock.advance(30)
    assert (await verifier.verify(supabase.signed(supabase.ec_key))).user_id == supabase.user_id


async def test_fetch_raising_anything_refuses_cleanly(supabase):
    async def fetch(url: str) -> Any:
        raise RuntimeError("boom")

    verifier = supabase.verifier(http_client=None, fetch_jwks=fetch)
    await refused(verifier, supabase.signed(supabase.ec_key), "unknown signing key")


async def test_concurrent_verifications_share_one_fetch(supabase):
    supabase.server.gate = asyncio.Event()
    verifier = supabase.verifier()
    tokens = [supabase.signed(supabase.ec_key if n % 2 else supabase.rsa_key) for n in range(20)]
    pending = asyncio.gather(*(verifier.verify(token) for token in tokens))
    await asyncio.sleep(0.01)
    supabase.server.gate.set()
    identities = await pending
    assert {identity.user_id for identity in identities} == {supabase.user_id}
    assert supabase.server.fetches == 1


async def test_concurrent_unknown_kids_share_one_refetch(supabase):
    verifier = supabase.verifier()
    await verifier.verify(supabase.signed(supabase.ec_key))
    supabase.clock.advance(60)
    supabase.server.gate = asyncio.Event()
    pending = asyncio.gather(
        *(verifier.verify(supabase.signed(supabase.ec_key, kid=f"k{n}")) for n in range(10)),
        return_exceptions=True,
    )
    await asyncio.sleep(0.01)
    supabase.server.gate.set()
    results = await pending
    assert all(isinstance(result, Unauthenticated) for result in results)
    assert supabase.server.fetches == 2


# --- configuration -------------------------------------------------------------------------


def test_configuration_errors(supabase):
    with pytest.raises(ValueError):
        SupabaseJwtVerifier()
    with pytest.raises(ValueError):
        SupabaseJwtVerifier(jwt_secret="short")
    with pytest.raises(ValueError):
        SupabaseJwtVerifier(jwt_secret=supabase.ec_key.public_pem().decode())
    with pytest.raises(ValueError):
        SupabaseJwtVerifier("abcdefghijklmnop.supabase.co")


async def test_known_keys_are_served_while_a_refresh_is_in_flight(supabase):
    verifier = supabase.verifier()
    await verifier.verify(supabase.signed(supabase.ec_key))
    supabase.clock.advance(600)
    supabase.server.gate = asyncio.Event()
    refreshing = asyncio.ensure_future(verifier.verify(supabase.signed(supabase.ec_key)))
    await asyncio.sleep(0.01)
    assert not refreshing.done()
    served = await asyncio.wait_for(verifier.verify(supabase.signed(supabase.rsa_key)), 1)
    assert served.user_id == supabase.user_id
    supabase.server.gate.set()
    assert (await refreshing).user_id == supabase.user_id
    assert supabase.server.fetches == 2
