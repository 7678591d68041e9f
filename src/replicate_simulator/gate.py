"""What every `/v1` request passes first: injected faults, then the bearer token."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request

from replicate_simulator import problems
from replicate_simulator.engine import Engine
from replicate_simulator.faults import Operation


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() not in ("bearer", "token"):
        return None
    return token.strip() or None


async def admit(
    engine: Engine, request: Request[Any, Any, Any], operation: Operation
) -> tuple[str, str]:
    """Apply injected faults, then check the token; return (token, account)."""
    token = bearer_token(request.headers.get("authorization"))
    fault = engine.faults.take_for_request(token, operation)
    if fault is not None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status is not None:
            raise problems.from_fault(fault)
    account = engine.accounts.account_for(token)
    if token is None or account is None:
        raise problems.unauthenticated()
    return token, account
