"""The Replicate token pool: each token's health, and which one takes the next prediction.

Per outcome of a call made with a token:

    success                    consecutive failures reset
    429 TokenRateLimited       cooled down for the announced wait
    401/403 TokenRejected      retired (is_active false) until an operator re-enables it
    402 TokenOutOfCredit       retired until an operator re-enables it
    5xx/timeout ProviderUnavailable
                               counted; `failure_threshold` in a row cool it down
    422 ProviderInputRejected  the user's fault: the token is not touched

The next prediction goes to the healthy token used least recently. When none is healthy,
NoTokenAvailable says when the earliest cooling token frees up (None if all are retired;
a token already tried for the same work counts as free again in a second).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

import attrs

from base_core.errors import (
    NoTokenAvailable,
    ProviderUnavailable,
    TokenError,
    TokenOutOfCredit,
    TokenRateLimited,
    TokenRejected,
)
from base_core.events import (
    RecordsEvents,
    TokenAdded,
    TokenCooledDown,
    TokenEnabled,
    TokenRetired,
    named,
    with_recorded,
)
from base_core.frozen import replace, restore


@attrs.frozen
class RotationPolicy:
    failure_threshold: int = 3
    failure_cooldown: timedelta = timedelta(seconds=30)
    default_retry_after: timedelta = timedelta(seconds=30)
    max_retry_after: timedelta = timedelta(hours=1)

    def choose(
        self, tokens: Iterable[ReplicateToken], now: datetime, exclude: Collection[str] = ()
    ) -> ReplicateToken:
        pool = tokens if type(tokens) is list else list(tokens)
        healthy = [t for t in pool if t.id not in exclude and t.is_available(now)]
        if healthy:
            return min(healthy, key=_least_recently_used)
        # Tokens already tried for this work are still live: they can take a retry, so
        # they count towards when the caller may come back, like the cooling ones.
        waits = [
            (t.cooldown_until - now).total_seconds() if t.cooldown_until is not None else 0.0
            for t in pool
            if t.is_active
        ]
        if waits:
            raise NoTokenAvailable(retry_after=max(min(waits), 1.0))
        raise NoTokenAvailable(retry_after=None)

    def retry_after_for(self, error: TokenRateLimited) -> timedelta:
        seconds = error.retry_after if error.retry_after and error.retry_after > 0 else None
        wait = timedelta(seconds=seconds) if seconds is not None else self.default_retry_after
        return min(wait, self.max_retry_after)


def _least_recently_used(token: ReplicateToken) -> tuple[int, datetime | None, int, str]:
    never_used = token.last_used_at is None
    return (0 if never_used else 1, token.last_used_at, token.request_count, token.id)


@attrs.frozen(slots=False)
class ReplicateToken(RecordsEvents):
    """One API token of the pool. Frozen: every change returns the new state, which has
    recorded the domain events of the change (cooled down, retired, enabled)."""

    id: str
    label: str
    secret: str = attrs.field(repr=False)
    created_at: datetime
    is_active: bool = True
    request_count: int = 0
    error_count: int = 0
    last_used_at: datetime | None = None
    cooldown_until: datetime | None = None
    consecutive_failures: int = 0
    disabled_reason: str | None = None

    @classmethod
    def add(cls, token_id: str, label: str, secret: str, now: datetime) -> ReplicateToken:
        token = cls(id=token_id, label=label, secret=secret, created_at=now)
        return with_recorded(token, (named(TokenAdded, at=now, token_id=token_id, label=label),))

    @property
    def masked(self) -> str:
        return mask_secret(self.secret)

    def is_available(self, now: datetime) -> bool:
        return self.is_active and (self.cooldown_until is None or self.cooldown_until <= now)

    def record_request(self, now: datetime) -> ReplicateToken:
        state = self.__dict__.copy()
        state["request_count"] = self.request_count + 1
        state["last_used_at"] = now
        return with_recorded(restore(ReplicateToken, state), self.recorded)

    def record_success(self) -> ReplicateToken | None:
        """The token with its failures in a row forgotten; None when there were none
        (nothing to save)."""
        if self.consecutive_failures == 0:
            return None
        return replace(self, consecutive_failures=0)

    def record_failure(self, error: TokenError, now: datetime, policy: RotationPolicy) -> ReplicateToken:
        failed = replace(self, error_count=self.error_count + 1)
        if isinstance(error, TokenRejected):
            return failed._retire(f"rejected by Replicate ({error.status})", now)
        if isinstance(error, TokenOutOfCredit):
            return failed._retire("Replicate account out of credit (402)", now)
        if isinstance(error, TokenRateLimited):
            return failed._cool_down(now + policy.retry_after_for(error), "rate limited (429)", now)
        if isinstance(error, ProviderUnavailable):
            failures = self.consecutive_failures + 1
            if failures >= policy.failure_threshold:
                cooled = replace(failed, consecutive_failures=0)
                reason = f"{failures} failures in a row"
                return cooled._cool_down(now + policy.failure_cooldown, reason, now)
            return replace(failed, consecutive_failures=failures)
        return failed

    def enable(self, now: datetime) -> ReplicateToken:
        event = named(TokenEnabled, at=now, token_id=self.id, label=self.label)
        enabled = replace(
            self, is_active=True, disabled_reason=None, cooldown_until=None, consecutive_failures=0
        )
        return with_recorded(enabled, self.recorded + (event,))

    def disable(self, now: datetime, reason: str = "disabled by an operator") -> ReplicateToken:
        return self._retire(reason, now)

    def _retire(self, reason: str, now: datetime) -> ReplicateToken:
        event = named(TokenRetired, at=now, token_id=self.id, label=self.label, reason=reason)
        retired = replace(self, is_active=False, disabled_reason=reason)
        return with_recorded(retired, self.recorded + (event,))

    def _cool_down(self, until: datetime, reason: str, now: datetime) -> ReplicateToken:
        event = named(TokenCooledDown, at=now, token_id=self.id, label=self.label, until=until, reason=reason)
        return with_recorded(replace(self, cooldown_until=until), self.recorded + (event,))


REPLICATE_TOKEN_PREFIX = "r8_"
REPLICATE_TOKEN_LENGTH = 40  # "r8_" and 37 letters or digits
REPLICATE_TOKEN_SHAPE = f"{REPLICATE_TOKEN_PREFIX} and {REPLICATE_TOKEN_LENGTH - 3} letters or digits"


# The shape as a pattern, which the HTTP document states too.
REPLICATE_TOKEN_PATTERN = (
    f"^{REPLICATE_TOKEN_PREFIX}[A-Za-z0-9]{{{REPLICATE_TOKEN_LENGTH - len(REPLICATE_TOKEN_PREFIX)}}}$"
)
_REPLICATE_TOKEN = re.compile(REPLICATE_TOKEN_PATTERN)


def looks_like_replicate_token(secret: str) -> bool:
    """What Replicate's API tokens look like: `r8_` and 37 letters or digits."""
    return _REPLICATE_TOKEN.fullmatch(secret) is not None


def mask_secret(secret: str) -> str:
    """Enough to tell tokens apart, never enough to use one."""
    if len(secret) < 12:
        return "*" * len(secret)
    return f"{secret[:3]}…{secret[-4:]}"


@attrs.frozen
class TokenStat:
    id: str
    label: str
    masked: str
    is_active: bool
    request_count: int
    error_count: int
    error_rate_percent: float | None
    last_used_at: datetime | None
    cooldown_until: datetime | None
    disabled_reason: str | None

    @classmethod
    def of(cls, token: ReplicateToken) -> TokenStat:
        rate = error_rate_percent(token.error_count, token.request_count)
        return cls(
            token.id, token.label, token.masked, token.is_active, token.request_count,
            token.error_count, rate, token.last_used_at, token.cooldown_until, token.disabled_reason,
        )


def error_rate_percent(errors: int, requests: int) -> float | None:
    """Errors per 100 requests to two places, rounded half up like SQL's ROUND on numeric
    (Python's round() on the float would give 3.12 for 1 in 32, the seed's SQL 3.13)."""
    if not requests:
        return None
    hundredths = (errors * 10_000 * 2 + requests) // (2 * requests)
    return hundredths / 100


@attrs.frozen
class TokenTotals:
    total_tokens: int
    active_tokens: int
    total_requests: int
    total_errors: int


@attrs.frozen
class TokenStats:
    tokens: list[TokenStat]
    totals: TokenTotals

    @classmethod
    def of(cls, tokens: Iterable[ReplicateToken]) -> TokenStats:
        ordered = sorted(tokens, key=lambda t: (-t.request_count, t.id))
        return cls(
            tokens=[TokenStat.of(t) for t in ordered],
            totals=TokenTotals(
                total_tokens=len(ordered),
                active_tokens=sum(1 for t in ordered if t.is_active),
                total_requests=sum(t.request_count for t in ordered),
                total_errors=sum(t.error_count for t in ordered),
            ),
        )


__all__ = [
    "ReplicateToken",
    "RotationPolicy",
    "TokenStat",
    "TokenStats",
    "TokenTotals",
    "error_rate_percent",
    "mask_secret",
]
