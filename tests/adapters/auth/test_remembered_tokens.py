"""Verified tokens remembered briefly: a hit only for the very same token, never past its
`exp` or the ttl, failures never remembered, the memory bounded."""

from __future__ import annotations

import time
import uuid

import pytest

from adapters.auth import SessionTokens
from adapters.auth.remembered import RememberedTokens
from base_core.errors import Unauthenticated


class Counting:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0

    async def verify(self, token: str):
        self.calls += 1
        return await self.inner.verify(token)


class Now:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def sessions(now: Now, ttl: int = 3600) -> SessionTokens:
    return SessionTokens("s" * 48, ttl_seconds=ttl, clock=now, leeway_seconds=0)


async def test_the_same_token_is_verified_once_until_the_ttl():
    now = Now(time.time())
    issuer = sessions(now)
    inner = Counting(issuer)
    remembered = RememberedTokens(inner, ttl=60, now=now)
    user = str(uuid.uuid4())
    token = issuer.issue(user)
    assert (await remembered.verify(token)).user_id == user
    assert (await remembered.verify(token)).user_id == user
    assert inner.calls == 1
    now.at += 61
    await remembered.verify(token)
    assert inner.calls == 2


async def test_never_past_the_tokens_own_expiry():
    now = Now(time.time())
    issuer = sessions(now, ttl=10)
    inner = Counting(issuer)
    remembered = RememberedTokens(inner, ttl=60, now=now)
    token = issuer.issue(str(uuid.uuid4()))
    await remembered.verify(token)
    await remembered.verify(token)
    assert inner.calls == 1
    now.at += 11  # past exp, within the ttl: not remembered any more, the verifier decides
    await remembered.verify(token)
    assert inner.calls == 2


async def test_an_altered_token_or_a_failure_is_never_a_hit():
    now = Now(time.time())
    issuer = sessions(now)
    inner = Counting(issuer)
    remembered = RememberedTokens(inner, now=now)
    token = issuer.issue(str(uuid.uuid4()))
    await remembered.verify(token)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await remembered.verify(forged)
    assert inner.calls == 3


async def test_the_memory_is_bounded():
    now = Now(time.time())
    issuer = sessions(now)
    inner = Counting(issuer)
    remembered = RememberedTokens(inner, max_entries=2, now=now)
    tokens = [issuer.issue(str(uuid.uuid4())) for _ in range(3)]
    for token in tokens:
        await remembered.verify(token)
    await remembered.verify(tokens[0])  # pushed out by the third
    assert inner.calls == 4
