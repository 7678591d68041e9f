"""The minimal handlers' caller check: the session JWT (HS256, PyJWT), as .base issues it."""

from __future__ import annotations

from typing import Any

import jwt
from litestar import Request
from litestar.exceptions import HTTPException


def caller(request: Request[Any, Any, Any]) -> str:
    """The user id the bearer token names; 401 when it does not verify."""
    _scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        claims = jwt.decode(
            token, request.app.state.env.session_secret, algorithms=["HS256"],
            audience="base-session", issuer="base",
        )
    except jwt.PyJWTError:
        raise HTTPException(status_code=401) from None
    return str(claims["sub"])
