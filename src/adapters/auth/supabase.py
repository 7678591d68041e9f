"""Verifies Supabase Auth access tokens (HS256 legacy secret, ES256/RS256 via JWKS)."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from base_core.errors import Unauthenticated
from base_core.identity import Identity

from ._common import (
    Clock,
    canonical_uuid,
    check_numeric_dates,
    check_secret,
    pyjwt_reason,
    system_clock,
    unverified_header,
)
from .jwks import JwksCache, JwksFetch, httpx_fetch

AUDIENCE = "authenticated"
AUTHENTICATED_ROLE = "authenticated"
ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "RS256"})


class SupabaseJwtVerifier:
    """An IdentityVerifier for the access tokens Supabase Auth hands to signed-in users.

    Which key verifies a token is decided here, by configuration: HS256 only against the
    shared secret, ES256/RS256 only against the JWKS key named by `kid` and only with the
    one algorithm that key's type allows. The header's `alg` merely selects among those.

    PyJWT checks `exp` (required), `nbf` and `iat` with `leeway_seconds`, against the system
    clock (PyJWT takes no clock); `clock` paces the JWKS cache.
    """

    def __init__(
        self,
        supabase_url: str | None = None,
        jwt_secret: str | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        fetch_jwks: JwksFetch | None = None,
        jwks_ttl_seconds: float = 600.0,
        min_refetch_interval: float = 30.0,
        leeway_seconds: float = 30.0,
        allow_anonymous_users: bool = True,
        clock: Clock = system_clock,
    ) -> None:
        if supabase_url is None and jwt_secret is None:
            raise ValueError("configure a Supabase project URL, a JWT secret, or both")
        if jwt_secret is not None:
            check_secret(jwt_secret, "the Supabase JWT secret")
        self._secret = jwt_secret
        self._leeway = leeway_seconds
        self._allow_anonymous = allow_anonymous_users
        self._clock = clock
        self._issuer: str | None = None
        self._jwks: JwksCache | None = None
        if supabase_url is not None:
            base = supabase_url.rstrip("/")
            if not base.startswith(("https://", "http://")):
                raise ValueError("the Supabase URL must start with https:// or http://")
            self._issuer = f"{base}/auth/v1"
            self._jwks = JwksCache(
                f"{self._issuer}/.well-known/jwks.json",
                fetch_jwks or httpx_fetch(http_client),
                ttl_seconds=jwks_ttl_seconds,
                min_refetch_interval=min_refetch_interval,
                clock=clock,
            )

    @property
    def issuer(self) -> str | None:
        return self._issuer

    async def verify(self, bearer_token: str) -> Identity:
        header = unverified_header(bearer_token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str):
            raise Unauthenticated("unsupported token algorithm")
        key: Any
        if algorithm == "HS256" and self._secret is not None:
            key = self._secret
        elif algorithm in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise Unauthenticated("token has no key id")
            signing_key = await self._jwks.key_for(kid)
            if signing_key is None:
                raise Unauthenticated("unknown signing key")
            if signing_key.algorithm != algorithm:
                raise Unauthenticated("token algorithm does not match its key")
            key = signing_key.key
        else:
            raise Unauthenticated("unsupported token algorithm")
        claims = self._decode(bearer_token, key, algorithm)
        return self._identity(claims)

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=AUDIENCE,
                issuer=self._issuer,
                leeway=self._leeway,
                options={
                    "verify_iss": self._issuer is not None,
                    "require": ["exp", "sub", "aud"],
                },
            )
        except jwt.PyJWTError as error:
            raise Unauthenticated(pyjwt_reason(error, "invalid token")) from None
        except (ValueError, TypeError, OverflowError):
            # PyJWT's int() of a time claim that is no number (a list, infinity).
            raise Unauthenticated("token has an invalid time claim") from None
        check_numeric_dates(claims)
        return claims

    def _identity(self, claims: dict[str, Any]) -> Identity:
        if claims.get("role") != AUTHENTICATED_ROLE:
            raise Unauthenticated("token is not for a signed-in user")
        if claims.get("is_anonymous") is True and not self._allow_anonymous:
            raise Unauthenticated("anonymous users may not sign in")
        user_id = canonical_uuid(claims.get("sub"))
        if user_id is None:
            raise Unauthenticated("token subject is not a user id")
        email = claims.get("email")
        return Identity(
            user_id=user_id,
            provider="supabase",
            email=email if isinstance(email, str) and email else None,
        )

