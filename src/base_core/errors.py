"""Every error the core can raise, in one tree.

    BaseError
    ├── DomainError                    the request broke a rule of the product
    │   ├── InvalidRequest             400: a field is missing, unknown or out of range
    │   │   ├── UnknownModel           400: no such model (or not for that action)
    │   │   └── ProviderInputRejected  422 from Replicate: the user's input, not the token's fault
    │   ├── Unauthenticated            401: no credentials, or credentials that don't verify
    │   ├── InsufficientCredits        402: carries `needed` and `available`
    │   ├── Forbidden                  403: authenticated, but not allowed
    │   ├── NotFound                   404: absent, deleted, or someone else's
    │   ├── Conflict                   409
    │   │   ├── IdempotencyConflict    the same key came back with different fields
    │   │   ├── IllegalTransition      a state change the lifecycle does not allow
    │   │   └── HoldAlreadyResolved    a credit hold is settled or voided only once
    │   └── TooManyInFlight            429: the user's cap on running generations
    ├── ProviderError                  Replicate could not take the work
    │   ├── TokenError                 the token's fault; the rotation policy reacts to it
    │   │   ├── TokenRejected          401/403: the token is retired
    │   │   ├── TokenOutOfCredit       402: the account is out of money; retired
    │   │   ├── TokenRateLimited       429: cooled down for `retry_after` seconds
    │   │   └── ProviderUnavailable    5xx, timeout, connection error: counts towards a cooldown
    │   ├── NoTokenAvailable           503: every token is cooling or retired; `retry_after`
    │   └── PaymentProviderError       503: Telegram or Stripe could not do what was asked
    ├── InfrastructureError            503: the database (or another dependency) failed
    │   ├── OutputCopyFailed           a result could not be copied into the output store
    │   └── NotConfigured              503: a feature whose settings are missing; names them
    └── InvalidRegistry                the model registry given at start-up is malformed

Adapters translate outside exceptions into these at their boundary; nothing above an
adapter sees a driver's or a client library's exception.
"""

from __future__ import annotations

from collections.abc import Mapping


class BaseError(Exception):
    """Root of the errors the core raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DomainError(BaseError):
    """The request broke a rule of the product; the caller can fix it."""


class InvalidRequest(DomainError):
    """A field of the request is missing, unknown, of the wrong type or out of range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class UnknownModel(InvalidRequest):
    def __init__(self, model_id: str, message: str | None = None) -> None:
        super().__init__("model_id", message or f"unknown model {model_id!r}")
        self.model_id = model_id


class ProviderInputRejected(InvalidRequest):
    """Replicate refused the input (422). Never the token's fault, never retried."""

    def __init__(self, fields: Mapping[str, str], detail: str = "input validation failed") -> None:
        field = ", ".join(sorted(fields)) if fields else "input"
        super().__init__(field, detail)
        self.fields = dict(fields)


class Unauthenticated(DomainError):
    def __init__(self, message: str = "authentication required") -> None:
        super().__init__(message)


class InsufficientCredits(DomainError):
    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"insufficient credits: {needed} needed, {available} available")
        self.needed = needed
        self.available = available


class Forbidden(DomainError):
    def __init__(self, message: str = "forbidden") -> None:
        super().__init__(message)


class NotFound(DomainError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class Conflict(DomainError):
    pass


class IdempotencyConflict(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with different fields")
        self.key = key


class IllegalTransition(Conflict):
    def __init__(self, current: str, event: str) -> None:
        super().__init__(f"cannot {event} a generation that is {current}")
        self.current = current
        self.event = event


class HoldAlreadyResolved(Conflict):
    """A hold was settled or voided before; resolving it again is refused."""

    def __init__(self, key: str, state: str) -> None:
        super().__init__(f"hold {key!r} is already {state}")
        self.key = key
        self.state = state


class TooManyInFlight(DomainError):
    def __init__(self, limit: int, retry_after: float) -> None:
        super().__init__(f"at most {limit} generations may run at once")
        self.limit = limit
        self.retry_after = retry_after


class ProviderError(BaseError):
    """Replicate could not take the work."""


class TokenError(ProviderError):
    """The token's fault (or its account's); another token may succeed."""


class TokenRejected(TokenError):
    """401 or 403: the token is wrong or revoked."""

    def __init__(self, status: int, message: str = "token rejected") -> None:
        super().__init__(message)
        self.status = status


class TokenOutOfCredit(TokenError):
    """402: the token's account has no money left."""

    def __init__(self, message: str = "insufficient credit on the provider account") -> None:
        super().__init__(message)


class TokenRateLimited(TokenError):
    """429: the account is throttled for `retry_after` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(TokenError):
    """5xx, a timeout or a connection error."""

    def __init__(self, message: str = "provider unavailable", status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NoTokenAvailable(ProviderError):
    """No token can take the work now; the earliest frees up in `retry_after` seconds."""

    def __init__(self, retry_after: float | None, message: str = "no Replicate token available") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PaymentProviderError(ProviderError):
    """A payment provider (Telegram's Bot API, Stripe) failed or refused a call."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class InfrastructureError(BaseError):
    """A dependency of the service (the database) failed; nothing was half-done."""


class OutputCopyFailed(InfrastructureError):
    """A result could not be fetched or stored; the reconciler tries again later."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"could not keep {url}: {reason}")
        self.url = url
        self.reason = reason


class NotConfigured(InfrastructureError):
    """A feature is switched off because the settings it needs are missing.

    `settings` names them (e.g. `BASE_TELEGRAM_BOT_TOKEN`), so the answer tells the
    operator what to set instead of a bare "unavailable".
    """

    def __init__(
        self, feature: str, settings: tuple[str, ...] | list[str], *, all_of: bool = False
    ) -> None:
        self.feature = feature
        self.settings = tuple(settings)
        joined = (" and " if all_of else " or ").join(self.settings)
        super().__init__(f"{feature} is not configured: set {joined}")
class OutputStoreUnavailable(InfrastructureError):
    """The output store did not answer (or refused); what was asked is not done."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the output store is unavailable: {reason}")
        self.reason = reason


class UnsupportedMediaType(InvalidRequest):
    """An upload of a type the service does not take (only PNG, JPEG and WebP)."""

    def __init__(self, media_type: str, accepted: tuple[str, ...]) -> None:
        super().__init__("file", f"{media_type or 'this type'} is not accepted; send one of {', '.join(accepted)}")
        self.media_type = media_type


class TooLarge(InvalidRequest):
    """A body over the size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__("file", f"larger than the limit of {limit} bytes")
        self.limit = limit


class InvalidRegistry(BaseError):
    """A model registry that cannot be used; each problem names its path in the data.

    `problems` reads like `models[2].settings.num_outputs.max: expected a number, got str`.
    Raised at start-up, never for a request.
    """

    def __init__(self, problems: tuple[str, ...] | list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems) or "invalid model registry")


__all__ = [
    "BaseError",
    "Conflict",
    "DomainError",
    "Forbidden",
    "HoldAlreadyResolved",
    "IdempotencyConflict",
    "IllegalTransition",
    "InfrastructureError",
    "InsufficientCredits",
    "InvalidRegistry",
    "InvalidRequest",
    "NoTokenAvailable",
    "NotConfigured",
    "NotFound",
    "OutputCopyFailed",
    "OutputStoreUnavailable",
    "PaymentProviderError",
    "ProviderError",
    "ProviderInputRejected",
    "ProviderUnavailable",
    "TokenError",
    "TokenOutOfCredit",
    "TokenRateLimited",
    "TokenRejected",
    "TooLarge",
    "TooManyInFlight",
    "Unauthenticated",
    "UnknownModel",
    "UnsupportedMediaType",
]
