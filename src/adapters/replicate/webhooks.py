"""Replicate's webhooks, verified: the WebhookVerifier port.

Which secret signs a webhook depends on the Replicate account whose token created the
prediction, so the secrets come from `WebhookSecrets`:

- one configured secret (`BASE_REPLICATE_WEBHOOK_SECRET`) when there is one;
- otherwise the secret of the token that created the prediction, fetched from Replicate
  (`GET /v1/webhooks/default/secret`) once per token and kept;
- for a prediction not stored yet (its webhook beat the create call), the secret of each
  active token in turn until one matches.

A secret that cannot be fetched is skipped; when none matches the webhook is refused
(Unauthenticated) and nothing is applied, and Replicate retries the terminal one.

An account may rotate its secret. When no kept (fetched) secret matches, each is fetched
again, at most once per token every `REFETCH_INTERVAL_SECONDS`, and the webhook checked
again: after a rotation the next delivery is accepted, and forged ones cost at most one
fetch per token in that interval. A configured secret is never refetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from adapters.replicate._predictions import MalformedPrediction, update_from_json
from adapters.replicate.signatures import (
    SignedHeaders,
    check_timestamp,
    parse_headers,
    signature_matches,
)
from adapters.replicate.statuses import TRIGGERS
from adapters.system import SystemClock
from base_core.errors import BaseError, InvalidRequest, Unauthenticated
from base_core.ports import (
    Clock,
    TokenCredential,
    UnitOfWorkFactory,
    VerifiedWebhook,
    WebhookTarget,
)
from base_core.tokens import ReplicateToken

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/webhook/replicate"
DEFAULT_TOLERANCE_SECONDS = 300.0
MAX_PREDICTION_ID_LENGTH = 256
REFETCH_INTERVAL_SECONDS = 30.0

SecretFetcher = Callable[[TokenCredential], Awaitable[str]]


def webhook_target(public_url: str | None, path: str = WEBHOOK_PATH) -> WebhookTarget | None:
    """Where Replicate should report, from BASE_PUBLIC_URL; None (poll instead) when unset."""
    if not public_url or not public_url.strip():
        return None
    return WebhookTarget(url=public_url.strip().rstrip("/") + path)


@attrs.frozen
class Candidate:
    """A secret to try, and the token it was fetched for (None when configured)."""

    secret: str = attrs.field(repr=False)
    token: ReplicateToken | None = attrs.field(default=None, repr=False)


class WebhookSecrets:
    """The signing secrets a webhook of one prediction may carry; see the module docstring."""

    def __init__(
        self,
        uow: UnitOfWorkFactory | None = None,
        fetch: SecretFetcher | None = None,
        configured: str | None = None,
        *,
        clock: Clock | None = None,
        refetch_interval_seconds: float = REFETCH_INTERVAL_SECONDS,
    ) -> None:
        if configured is None and (uow is None or fetch is None):
            raise ValueError("without a configured secret, secrets are fetched: give uow and fetch")
        self._uow = uow
        self._fetch = fetch
        self._configured = configured.strip() if configured and configured.strip() else None
        self._clock = clock or SystemClock()
        self._refetch_interval = timedelta(seconds=refetch_interval_seconds)
        self._cache: dict[tuple[str, str], str] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[str]] = {}
        self._refetched_at: dict[str, datetime] = {}

    @classmethod
    def fixed(cls, secret: str) -> WebhookSecrets:
        return cls(configured=secret)

    async def candidates(self, prediction_id: str) -> AsyncGenerator[Candidate, None]:
        """The secrets to try for this prediction, most likely first, fetched lazily."""
        if self._configured is not None:
            yield Candidate(self._configured)
            return
        owner, everyone = await self._tokens_for(prediction_id)
        for token in [owner] if owner is not None else everyone:
            secret = await self.secret_of(token)
            if secret is not None:
                yield Candidate(secret, token)

    async def secret_of(self, token: ReplicateToken) -> str | None:
        """The token's account secret, fetched once and kept; None when it can't be fetched."""
        key = _key(token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        return await self._shared_fetch(key, token)

    async def refetched(self, stale: Candidate) -> str | None:
        """The token's secret fetched again after `stale` did not match, or None: for a
        configured secret, within the refetch interval of the last refetch, or on failure."""
        token = stale.token
        if token is None:
            return None
        key = _key(token)
        current = self._cache.get(key)
        if current is not None and current != stale.secret:
            return current  # another delivery refetched it meanwhile
        if key not in self._pending:
            now = self._clock.now()
            last = self._refetched_at.get(token.id)
            if last is not None and now - last < self._refetch_interval:
                return None
            self._refetched_at[token.id] = now
            logger.info("refetching the webhook secret of token %s after a signature mismatch", token.id)
        return await self._shared_fetch(key, token)

    def forget(self, token_id: str | None = None) -> None:
        """Drop kept secrets (all, or one token's), e.g. after an account rotated its secret."""
        self._cache = {} if token_id is None else {k: v for k, v in self._cache.items() if k[0] != token_id}

    async def _shared_fetch(self, key: tuple[str, str], token: ReplicateToken) -> str | None:
        # Concurrent webhooks for one token share one fetch.
        task = self._pending.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.get_running_loop().create_task(self._fetch_and_keep(key, token))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._forget_pending(key, done))
        try:
            return await asyncio.shield(task)
        except BaseError as error:
            logger.warning("could not fetch the webhook secret of token %s: %s", token.id, error.message)
            return None

    async def _fetch_and_keep(self, key: tuple[str, str], token: ReplicateToken) -> str:
        assert self._fetch is not None
        secret = await self._fetch(TokenCredential(token.id, token.secret))
        self._cache[key] = secret
        return secret

    def _forget_pending(self, key: tuple[str, str], task: asyncio.Task[str]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved, so a failed fetch nobody awaited is not reported

    async def _tokens_for(self, prediction_id: str) -> tuple[ReplicateToken | None, list[ReplicateToken]]:
        """The token that created the prediction, or every active token when it is not known."""
        assert self._uow is not None
        async with self._uow() as uow:
            generation = await uow.generations.get_by_prediction_for_update(prediction_id)
            if generation is not None and generation.token_id is not None:
                owner = await uow.tokens.get(generation.token_id)
                if owner is not None:
                    return owner, []
            tokens = await uow.tokens.all()
        return None, [t for t in tokens if t.is_active]


def _key(token: ReplicateToken) -> tuple[str, str]:
    return (token.id, hashlib.sha256(token.secret.encode()).hexdigest())


class ReplicateWebhooks:
    """The WebhookVerifier port for Replicate's Standard Webhooks signatures."""

    def __init__(
        self,
        secrets: WebhookSecrets,
        clock: Clock,
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        self._secrets = secrets
        self._clock = clock
        self._tolerance = tolerance_seconds

    @classmethod
    def build(
        cls,
        uow: UnitOfWorkFactory,
        fetch: SecretFetcher,
        clock: Clock,
        configured_secret: str | None = None,
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    ) -> ReplicateWebhooks:
        """The usual wiring: the configured secret if any, else each account's, fetched with
        `fetch` (ReplicateInference.webhook_secret)."""
        return cls(WebhookSecrets(uow, fetch, configured_secret, clock=clock), clock, tolerance_seconds)

    async def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedWebhook:
        # The cheap checks first, so forged requests never make us call Replicate.
        signed = parse_headers(headers)
        check_timestamp(signed, self._clock.now(), self._tolerance)
        data = _json_object(body)
        prediction_id = data.get("id")
        if (
            not isinstance(prediction_id, str)
            or not prediction_id
            or len(prediction_id) > MAX_PREDICTION_ID_LENGTH
            or not prediction_id.isprintable()
        ):
            # Checked before the id is looked up to find the secret: PostgreSQL refuses NUL.
            raise Unauthenticated("the webhook body is not a prediction")
        if not await self._signed_by_a_candidate(prediction_id, signed, body):
            raise Unauthenticated("webhook signature does not match")
        status = data.get("status")
        if isinstance(status, str) and status not in TRIGGERS:
            # Signed, yet no status Replicate sends: refused, rather than stored and ignored.
            raise InvalidRequest("body", f"unknown prediction status {status[:32]!r}")
        try:
            update = update_from_json(data)
        except MalformedPrediction as error:
            raise InvalidRequest("body", str(error)) from None
        return VerifiedWebhook(delivery_id=signed.webhook_id, update=update)


    async def _signed_by_a_candidate(self, prediction_id: str, signed: SignedHeaders, body: bytes) -> bool:
        tried: list[Candidate] = []
        # Closed here when a candidate matches: a generator left suspended is closed by
        # the event loop's finalizer hook instead, through call_soon_threadsafe (a write
        # to the loop's wake-up pipe) and a task of its own, on every webhook.
        async with contextlib.aclosing(self._secrets.candidates(prediction_id)) as candidates:
            async for candidate in candidates:
                if signature_matches(candidate.secret, signed, body):
                    return True
                tried.append(candidate)
        # None matched: perhaps an account rotated its secret since we fetched it.
        for stale in tried:
            fresh = await self._secrets.refetched(stale)
            if fresh is not None and signature_matches(fresh, signed, body):
                return True
        return False


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Unauthenticated("the webhook body is not JSON") from None
    if not isinstance(data, dict):
        raise Unauthenticated("the webhook body is not a prediction")
    return data


__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "REFETCH_INTERVAL_SECONDS",
    "WEBHOOK_PATH",
    "Candidate",
    "ReplicateWebhooks",
    "SecretFetcher",
    "WebhookSecrets",
    "webhook_target",
]
