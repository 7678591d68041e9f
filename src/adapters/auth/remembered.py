"""Tokens already verified, remembered for a short while (the poll path's largest cost).

Verifying a JWT (PyJWT's segment checks, the signature, the claims) costs more than the
rest of a cached poll. A token that verified is the same string on every request of a
polling client, so its Identity is remembered, keyed by the whole token (signature
included: a different or altered token is never a hit), until the earlier of `ttl`
seconds and the token's own `exp`. Failures are never remembered. Bounded: the oldest
entries go first.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from base_core.identity import Identity, IdentityVerifier

from ._common import unverified_claims

DEFAULT_TTL = 60.0
DEFAULT_MAX_ENTRIES = 50_000


class RememberedTokens:
    def __init__(
        self,
        inner: IdentityVerifier,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._max = max_entries
        self._now = now
        self._known: dict[str, tuple[Identity, float]] = {}

    async def verify(self, bearer_token: str) -> Identity:
        known = self._known.get(bearer_token)
        if known is not None:
            if self._now() < known[1]:
                return known[0]
            del self._known[bearer_token]
        identity = await self._inner.verify(bearer_token)
        until = self._now() + self._ttl
        expires = unverified_claims(bearer_token).get("exp")
        if isinstance(expires, (int, float)) and not isinstance(expires, bool):
            until = min(until, float(expires))
        if len(self._known) >= self._max:
            del self._known[next(iter(self._known))]
        self._known[bearer_token] = (identity, until)
        return identity
