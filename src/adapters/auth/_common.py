"""Pieces shared by the token verifiers: the clock, JWT peeking, claim shapes, and
PyJWT's verdicts in our words."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import jwt

from base_core.errors import Unauthenticated

# A clock answers "now" as epoch seconds or as a datetime; naive datetimes are read as UTC.
Clock = Callable[[], float | datetime]

# Real tokens are a few KiB at most; refusing huge inputs early keeps parsing cheap.
MAX_TOKEN_LENGTH = 16 * 1024

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def system_clock() -> float:
    return time.time()


def epoch_seconds(clock: Clock) -> float:
    now = clock()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.timestamp()
    return float(now)


def canonical_uuid(value: object) -> str | None:
    """The lower-case hyphenated form, or None: `uuid.UUID` also accepts braces and urns."""
    if isinstance(value, str) and _UUID.fullmatch(value):
        return value.lower()
    return None


def check_secret(secret: str, what: str) -> None:
    if not isinstance(secret, str) or len(secret) < 32:
        raise ValueError(f"{what} must be a string of at least 32 characters")
    if secret.lstrip().startswith(("-----BEGIN", "ssh-", "{")):
        # A public key used as an HMAC secret is exactly what algorithm confusion exploits.
        raise ValueError(f"{what} looks like a key, not a shared secret")


def unverified_header(token: object) -> dict[str, Any]:
    """The JOSE header of a compact JWS, before any signature check; for routing only."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("malformed token")
    if token.count(".") != 2:
        raise Unauthenticated("malformed token")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise Unauthenticated("malformed token") from None
    if not isinstance(header, dict):
        raise Unauthenticated("malformed token")
    return header


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload without checking anything; only to decide which verifier to ask."""
    unverified_header(token)
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        raise Unauthenticated("malformed token") from None
    if not isinstance(claims, dict):
        raise Unauthenticated("malformed token")
    return claims


def _check_numeric_date(claims: Mapping[str, Any], name: str) -> None:
    value = claims.get(name)
    if value is None:
        return
    # bool is an int in Python, and NaN/inf would make every comparison lie.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Unauthenticated(f"token has an invalid {name}")


def check_numeric_dates(claims: Mapping[str, Any]) -> None:
    """exp, nbf and iat, when present, are JSON numbers (RFC 7519 NumericDate).

    PyJWT compares them with `int(value)`, which also takes the text "9999999999"; the
    comparison itself is PyJWT's."""
    for name in ("exp", "nbf", "iat"):
        _check_numeric_date(claims, name)


def pyjwt_reason(error: jwt.PyJWTError, otherwise: str) -> str:
    """PyJWT's verdict in our words; never the token or the key."""
    if isinstance(error, jwt.InvalidSignatureError):
        return "invalid token signature"
    if isinstance(error, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "token issued in the future" if "(iat)" in str(error) else "token not yet valid"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"token has no {error.claim}"
    if isinstance(error, jwt.InvalidIssuedAtError):
        return "token has an invalid iat"
    if isinstance(error, jwt.InvalidAudienceError):
        return "token is not for this audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "token is from another issuer"
    if isinstance(error, jwt.exceptions.InvalidSubjectError):
        return "token subject is not a user id"
    for claim in ("exp", "nbf"):
        if isinstance(error, jwt.DecodeError) and f"({claim})" in str(error):
            return f"token has an invalid {claim}"
    return otherwise
