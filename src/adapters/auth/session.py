"""The service's own session tokens, issued after a Telegram sign-in."""

from __future__ import annotations

from typing import Any

import jwt

from base_core.errors import Unauthenticated
from base_core.identity import Identity

from ._common import (
    Clock,
    canonical_uuid,
    check_numeric_dates,
    check_secret,
    epoch_seconds,
    pyjwt_reason,
    system_clock,
    unverified_header,
)

SESSION_AUDIENCE = "base-session"
THIRTY_DAYS = 30 * 24 * 3600


class SessionTokens:
    """Issues and verifies HS256 session JWTs; an IdentityVerifier for provider "telegram".

    `clock` dates the tokens issued; PyJWT checks exp and iat (with `leeway_seconds`)
    against the system clock."""

    def __init__(
        self,
        secret: str,
        ttl_seconds: int = THIRTY_DAYS,
        issuer: str = "base",
        clock: Clock = system_clock,
        *,
        leeway_seconds: float = 30.0,
    ) -> None:
        check_secret(secret, "the session secret")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if not issuer:
            raise ValueError("issuer must not be empty")
        self._secret = secret
        self._ttl = int(ttl_seconds)
        self.issuer = issuer
        self._clock = clock
        self._leeway = leeway_seconds

    def issue(self, user_id: str) -> str:
        subject = canonical_uuid(user_id)
        if subject is None:
            raise ValueError("user_id must be a UUID string")
        now = int(epoch_seconds(self._clock))
        claims = {
            "sub": subject,
            "iat": now,
            "exp": now + self._ttl,
            "iss": self.issuer,
            "aud": SESSION_AUDIENCE,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    async def verify(self, bearer_token: str) -> Identity:
        if unverified_header(bearer_token).get("alg") != "HS256":
            raise Unauthenticated("unsupported token algorithm")
        try:
            claims: dict[str, Any] = jwt.decode(
                bearer_token,
                self._secret,
                algorithms=["HS256"],
                audience=SESSION_AUDIENCE,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthenticated(pyjwt_reason(error, "invalid session token")) from None
        except (ValueError, TypeError, OverflowError):
            raise Unauthenticated("token has an invalid time claim") from None
        check_numeric_dates(claims)
        user_id = canonical_uuid(claims.get("sub"))
        if user_id is None:
            raise Unauthenticated("token subject is not a user id")
        return Identity(user_id=user_id, provider="telegram")
