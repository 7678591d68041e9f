"""A cached JSON Web Key Set: the public keys Supabase Auth signs access tokens with."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._common import Clock, epoch_seconds, system_clock

log = logging.getLogger(__name__)

# Given the JWKS URL, returns the parsed JSON document (or raises).
JwksFetch = Callable[[str], Awaitable[Any]]

PublicKey = EllipticCurvePublicKey | RSAPublicKey

MIN_RSA_BITS = 2048
_FETCH_TIMEOUT = httpx.Timeout(5.0)


@attrs.frozen
class SigningKey:
    """One verification key, bound to the single algorithm allowed with it."""

    kid: str
    algorithm: str  # "ES256" or "RS256"
    key: PublicKey = attrs.field(repr=False)


def httpx_fetch(client: httpx.AsyncClient | None = None) -> JwksFetch:
    """A fetch over the given client, or over a short-lived one per call."""

    async def fetch(url: str) -> Any:
        if client is not None:
            return _json(await client.get(url, headers={"accept": "application/json"}))
        async with httpx.AsyncClient(timeout=_FETCH_TIMEOUT) as own:
            return _json(await own.get(url, headers={"accept": "application/json"}))

    return fetch


def _json(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


def _algorithm_for(jwk: dict[str, Any]) -> str | None:
    # The algorithm follows from the key type, never from the token header.
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return "ES256"
    if jwk.get("kty") == "RSA":
        return "RS256"
    return None  # "oct" keys never come from a JWKS we trust; other curves are not used


def _signing_key(jwk: object) -> SigningKey | None:
    if not isinstance(jwk, dict):
        return None
    kid, algorithm = jwk.get("kid"), _algorithm_for(jwk)
    if not isinstance(kid, str) or not kid or algorithm is None:
        return None
    if jwk.get("alg", algorithm) != algorithm or jwk.get("use", "sig") != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if "d" in jwk:
        return None  # a private key published by mistake is not something to trust
    try:
        key = jwt.PyJWK(jwk, algorithm=algorithm).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1):
        return SigningKey(kid, algorithm, key)
    if isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return SigningKey(kid, algorithm, key)
    return None


def parse_jwks(document: object) -> dict[str, SigningKey]:
    """Usable keys by kid; raises ValueError when the document holds none."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, SigningKey] = {}
    ambiguous: set[str] = set()
    for jwk in document["keys"]:
        key = _signing_key(jwk)
        if key is None:
            continue
        if key.kid in keys:
            ambiguous.add(key.kid)  # two keys under one kid: trust neither
        keys[key.kid] = key
    for kid in ambiguous:
        del keys[kid]
    if not keys:
        raise ValueError("JWKS holds no usable signing key")
    return keys


class JwksCache:
    """Keys by kid, refreshed when stale or when an unknown kid shows up.

    Every fetch attempt, good or bad, is spaced at least `min_refetch_interval` from the
    previous one, so a flood of tokens with made-up kids costs one request per interval.
    A failed or garbage fetch keeps the last good set: a JWKS outage must not log
    everybody out. Concurrent callers wait for a single fetch.
    """

    def __init__(
        self,
        url: str,
        fetch: JwksFetch,
        *,
        ttl_seconds: float = 600.0,
        min_refetch_interval: float = 30.0,
        clock: Clock = system_clock,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._min_interval = min_refetch_interval
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> SigningKey | None:
        known = self._keys.get(kid)
        # A known key is served while a refresh is under way rather than queueing behind it.
        if known is not None and (not self._stale() or self._lock.locked()):
            return known
        async with self._lock:
            # Waiting here means riding along on the fetch another caller started.
            if self._wants_fetch(kid):
                await self._refresh()
        return self._keys.get(kid)

    def _stale(self) -> bool:
        now = epoch_seconds(self._clock)
        return self._fetched_at is None or now - self._fetched_at >= self._ttl

    def _wants_fetch(self, kid: str) -> bool:
        now = epoch_seconds(self._clock)
        if self._attempted_at is not None and now - self._attempted_at < self._min_interval:
            return False
        return self._stale() or kid not in self._keys

    async def _refresh(self) -> None:
        self._attempted_at = epoch_seconds(self._clock)
        try:
            keys = parse_jwks(await self._fetch(self.url))
        except Exception as exc:  # noqa: BLE001 - any failure of the fetch keeps the old set
            log.warning("JWKS fetch from %s failed (%s); keeping %d cached keys",
                        self.url, type(exc).__name__, len(self._keys))
            return
        self._keys = keys
        self._fetched_at = self._attempted_at
