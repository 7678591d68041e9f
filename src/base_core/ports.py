"""The ports: what the core needs from the outside world, in the core's own words.

Storage is one unit of work holding one repository per aggregate. Everything read through
a unit of work and written back through it commits or rolls back together. Methods named
`..._for_update` lock what they return until the unit of work ends (a row lock on
PostgreSQL, the write transaction on SQLite, the store's lock in memory), so the
read-decide-write sequences of the use cases are safe with many processes on one database.

Saving an aggregate takes the domain events it recorded (base_core.events: the saved
object keeps none): the unit of work keeps them until it commits, drops them when it rolls
back, and hands the committed ones out through `collect_events`.

Adapters raise only the core's errors (base_core.errors); a database failure is an
InfrastructureError and the unit of work has rolled back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

import attrs

from base_core.events import DomainEvent
from base_core.generation import (
    CheckQuery,
    Generation,
    GenerationPage,
    GenerationQuery,
    PredictionUpdate,
)
from base_core.ledger import CreditAccount, Hold, LedgerEntry
from base_core.packs import CreditPack
from base_core.purchases import Provider, Purchase, PurchaseQuery
from base_core.tokens import ReplicateToken
from base_core.uploads import Upload
from base_core.users import User


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdFactory(Protocol):
    def new_id(self) -> str:
        """A fresh unique id (a UUID string)."""
        ...


class UserRepository(Protocol):
    async def get(self, user_id: str) -> User | None: ...
    async def get_by_telegram_id(self, telegram_id: int) -> User | None: ...
    async def add(self, user: User) -> None:
        """Insert; raise Conflict when the id (or the telegram id) is taken."""
        ...
    async def save(self, user: User) -> None: ...


class LedgerRepository(Protocol):
    async def add_account(self, account: CreditAccount) -> None: ...
    async def account(self, user_id: str) -> CreditAccount | None: ...
    async def account_for_update(self, user_id: str) -> CreditAccount | None: ...
    async def post(self, account: CreditAccount, entry: LedgerEntry, hold: Hold | None = None) -> None:
        """One change of a balance, as a `CreditAccount` method returned it: `entry`
        appended (Conflict when its key is taken), `hold` stored when the change takes
        or resolves one (a pending hold is new: Conflict when its key is taken; a
        resolved one replaces the pending one: Conflict when it was resolved otherwise),
        and the account's new balance saved (Conflict below zero), recording its events.
        After a Conflict the unit of work must not commit."""
        ...
    async def save_account(self, account: CreditAccount) -> None:
        """The balance alone (Conflict below zero), recording the account's events: for
        an entry `append_new` has just appended."""
        ...
    async def append_new(self, entry: LedgerEntry) -> bool:
        """Append an entry unless its key is taken; whether it went in. A taken key
        changes nothing: the insert is its own replay check (one statement, no read)."""
        ...
    async def entry(self, key: str) -> LedgerEntry | None: ...
    async def entries(self, user_id: str) -> list[LedgerEntry]:
        """A user's entries, oldest first."""
        ...
    async def hold_for_update(self, key: str) -> Hold | None: ...
    async def expired_holds(self, now: datetime, limit: int) -> list[Hold]:
        """Pending holds whose time is up, oldest first."""
        ...
    async def account_ids(self) -> list[str]:
        """Every account's user id (for the audit)."""
        ...


class GenerationRepository(Protocol):
    async def add(self, generation: Generation) -> None: ...
    async def get(self, generation_id: str) -> Generation | None: ...
    async def get_for_update(self, generation_id: str) -> Generation | None: ...
    async def get_by_prediction_for_update(self, prediction_id: str) -> Generation | None: ...
    async def get_by_idempotency_key(self, user_id: str, key: str) -> Generation | None: ...
    async def save(self, generation: Generation) -> Generation:
        """Store it (added when new), recording the events it carries; the generation as
        stored comes back, without those events, for whoever changes it further."""
        ...

    async def page(self, query: GenerationQuery) -> GenerationPage:
        """Not-deleted generations of `query.user_id`, newest first, with the total."""
        ...
    async def count_in_flight(self, user_id: str) -> int:
        """Pending or processing generations of a user."""
        ...
    async def in_flight_updated_before(self, cutoff: datetime, limit: int) -> list[Generation]:
        """Pending or processing generations with no change since `cutoff`, oldest first."""
        ...
    async def changed_since(self, user_id: str, since: datetime, limit: int) -> list[Generation]:
        """A user's generations (deleted ones too) changed at or after `since`, the
        oldest change first: what a live stream reads while no feed tells it what changed."""
        ...
    async def claim_for_check(self, query: CheckQuery) -> list[Generation]:
        """Lease the generations `query` wants until `query.lease_until`, oldest first.

        Rows another unit of work has locked are skipped, not waited for, so several
        processes reconciling at once each claim different generations; the lease
        (`next_check_at`) is written here and holds once the caller commits.
        """
        ...


class TokenRepository(Protocol):
    async def add(self, token: ReplicateToken) -> None: ...
    async def get(self, token_id: str) -> ReplicateToken | None: ...
    async def get_for_update(self, token_id: str) -> ReplicateToken | None: ...
    async def get_by_secret(self, secret: str) -> ReplicateToken | None: ...
    async def all(self) -> list[ReplicateToken]:
        """The pool, oldest first."""
        ...
    async def all_for_update(self) -> list[ReplicateToken]:
        """The pool, oldest first, locked in that order."""
        ...
    async def save(self, token: ReplicateToken) -> None: ...


class UpdateInbox(Protocol):
    """Webhook bookkeeping: deliveries already applied, and updates that came early."""

    async def mark_delivered(self, delivery_id: str, now: datetime) -> bool:
        """Record a webhook delivery; False when it was recorded before (a duplicate)."""
        ...
    async def park(self, update: PredictionUpdate, now: datetime) -> None:
        """Keep an update whose prediction is not known yet."""
        ...
    async def take(self, prediction_id: str) -> list[PredictionUpdate]:
        """Remove and return the parked updates of a prediction, in arrival order."""
        ...
    async def unclaimed(self, parked_before: datetime, limit: int) -> list[str]:
        """Predictions with updates parked before `parked_before` that no generation
        knows: made by a create call that died before it could record them."""
        ...


class PurchaseRepository(Protocol):
    async def add(self, purchase: Purchase) -> None:
        """Insert; raise Conflict when the id is taken."""
        ...
    async def get(self, purchase_id: str) -> Purchase | None: ...
    async def get_for_update(self, purchase_id: str) -> Purchase | None: ...
    async def get_by_payment_for_update(self, provider: Provider, payment_ref: str) -> Purchase | None:
        """The purchase paid by this provider payment (Stripe's PaymentIntent), locked."""
        ...
    async def save(self, purchase: Purchase) -> None: ...
    async def find(self, query: PurchaseQuery) -> list[Purchase]:
        """Purchases matching `query`, newest first."""
        ...


class UnitOfWork(Protocol):
    users: UserRepository
    ledger: LedgerRepository
    generations: GenerationRepository
    tokens: TokenRepository
    inbox: UpdateInbox
    purchases: PurchaseRepository
    files: FileRepository

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...
    async def commit(self) -> None:
        """Make everything durable; the events of what was saved become collectable."""
        ...
    async def rollback(self) -> None:
        """Undo everything since the last commit, and drop the events of it."""
        ...
    def collect_events(self) -> list[DomainEvent]:
        """The domain events of the aggregates saved and committed through this unit of
        work, each handed out once; none of what was rolled back."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


@attrs.frozen(slots=False)  # made per call: a dict-filling __init__ is cheaper
class TokenCredential:
    """What the inference provider needs to act as one token."""

    token_id: str
    secret: str = attrs.field(repr=False)


@attrs.frozen
class WebhookTarget:
    url: str
    events: tuple[str, ...] = ("start", "completed")


class InferenceProvider(Protocol):
    """Replicate, or something that behaves like it.

    Token-side failures raise TokenError subclasses, a refused input raises
    ProviderInputRejected; nothing else escapes.
    """

    async def create(
        self,
        token: TokenCredential,
        replicate_model: str,
        replicate_input: dict[str, Any],
        webhook: WebhookTarget | None,
    ) -> PredictionUpdate: ...

    async def get(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate: ...

    async def cancel(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate: ...


@attrs.frozen
class StoredOutput:
    content: bytes
    media_type: str


@attrs.frozen
class StoredObject:
    """An object being read from the store: its metadata, and its bytes as a stream.

    `start`/`end` are the byte range streamed (end exclusive); the whole object unless a
    range was asked for.
    """

    key: str
    media_type: str
    size: int
    etag: str
    start: int
    end: int
    chunks: AsyncIterator[bytes] = attrs.field(repr=False, eq=False)


class OutputStore(Protocol):
    """Somewhere results (and uploads) outlive Replicate's one-hour retention.

    Objects are named by keys: `{generation_id}/{n}-{digest}.{ext}` for a result,
    `uploads/{id}.{ext}` for an upload. Keys are what is stored; URLs are built from them
    when answering, so moving the service or its store changes no row.

    `keep` copies a generation's outputs from their (Replicate) URLs and returns the keys
    of the copies, in the same order; keeping the same outputs twice gives the same keys.
    It raises OutputCopyFailed when a copy could not be made (nothing is lost: the caller
    tries again later). The other methods raise OutputStoreUnavailable when the store
    does not answer.
    """

    async def keep(self, generation_id: str, source_urls: Sequence[str]) -> list[str]: ...

    async def put(self, key: str, content: bytes, media_type: str) -> None: ...

    async def open(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredObject | None:
        """The object (or the bytes `[start, end)` of it), streamed; None if absent."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove the objects; keys already gone are no error."""
        ...


class InputLinks(Protocol):
    """How Replicate is to read an upload: a URL it can fetch, or a data URL."""

    async def for_provider(self, key: str, media_type: str) -> str: ...


class FileRepository(Protocol):
    """Uploads, and the stored objects waiting to be deleted."""

    async def add_upload(self, upload: Upload) -> None: ...
    async def upload(self, upload_id: str) -> Upload | None: ...
    async def remove_upload(self, upload_id: str) -> None: ...
    async def upload_in_use(self, upload_id: str) -> bool:
        """Whether a generation that is not deleted takes the upload as its input."""
        ...
    async def queue_deletions(self, keys: Sequence[str], now: datetime) -> None: ...
    async def pending_deletions(self, limit: int) -> list[str]: ...
    async def deletions_done(self, keys: Sequence[str]) -> None: ...


@attrs.frozen
class VerifiedWebhook:
    delivery_id: str  # Replicate's `webhook-id`: the same on every retry of one delivery
    update: PredictionUpdate


class WebhookVerifier(Protocol):
    async def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedWebhook:
        """Check a webhook's signature over the raw body; raise Unauthenticated if it fails."""
        ...


@attrs.frozen
class Checkout:
    """Where the buyer pays: an invoice link or a Checkout page, and the provider's id of it."""

    url: str
    ref: str | None = None


class PaymentGateway(Protocol):
    """Telegram's Bot API or Stripe, as the purchase use cases need them.

    Failures raise PaymentProviderError; nothing else escapes.
    """

    @property
    def provider(self) -> Provider: ...

    async def checkout(self, purchase: Purchase, pack: CreditPack) -> Checkout: ...

    async def refund(self, purchase: Purchase) -> bool:
        """Give a paid purchase's money back: True when the provider confirmed it done, False
        when it is under way (its webhook tells the outcome later)."""
        ...


__all__ = [
    "Checkout",
    "Clock",
    "FileRepository",
    "GenerationRepository",
    "IdFactory",
    "InferenceProvider",
    "InputLinks",
    "LedgerRepository",
    "OutputStore",
    "PaymentGateway",
    "PurchaseRepository",
    "StoredObject",
    "StoredOutput",
    "TokenCredential",
    "TokenRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UpdateInbox",
    "UserRepository",
    "VerifiedWebhook",
    "WebhookTarget",
    "WebhookVerifier",
]
