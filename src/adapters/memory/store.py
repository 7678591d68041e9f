"""In-memory storage: every repository port over the tables of tables.py, with real
transactions.

A `MemoryStore` is the database: per-instance state, good enough to run the whole service
in one process. A unit of work takes the store's lock for its whole life (like SQLite's
write transaction) and writes straight into the tables, undoing its writes unless it
commits. The domain objects are frozen, so the store keeps and hands out the objects
themselves: a caller cannot change what the store holds (saving one takes its record of
events, base_core.events, so what is stored has recorded nothing). What the SQL schema
guards with a primary key or a unique index, and the balance's CHECK, are guarded here
too; foreign keys are the database's business and are not imitated.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Hashable, Sequence
from datetime import datetime
from types import TracebackType

from adapters.memory.tables import Table, Undo, undo_all
from adapters.memory.turns import Turns
from base_core.errors import Conflict
from base_core.events import DomainEvent, EventLog, Recorded, made
from base_core.generation import (
    IN_FLIGHT,
    CheckQuery,
    Generation,
    GenerationPage,
    GenerationQuery,
    PredictionUpdate,
)
from base_core.ledger import CreditAccount, Hold, HoldState, LedgerEntry
from base_core.ports import (
    FileRepository,
    GenerationRepository,
    LedgerRepository,
    PurchaseRepository,
    TokenRepository,
    UpdateInbox,
    UserRepository,
)
from base_core.purchases import Provider, Purchase, PurchaseQuery
from base_core.tokens import ReplicateToken
from base_core.uploads import Upload
from base_core.users import User

_PENDING = HoldState.PENDING  # a global: an enum class attribute read is slow on Python 3.11


def _user_keys(user: User) -> tuple[Hashable | None, ...]:
    return (user.telegram_id,)


def _entry_keys(entry: LedgerEntry) -> tuple[Hashable | None, ...]:
    return (entry.user_id,)


def _hold_keys(hold: Hold) -> tuple[Hashable | None, ...]:
    return (True if hold.state is _PENDING else None,)


def _generation_keys(g: Generation) -> tuple[Hashable | None, ...]:
    visible = g.deleted_at is None
    return (
        g.prediction_id,
        None if g.idempotency_key is None else (g.user_id, g.idempotency_key),
        g.user_id if visible else None,
        g.user_id if g.status in IN_FLIGHT else None,  # by user; all of them: every bucket
        g.input_upload_id if visible else None,
    )


def _token_keys(token: ReplicateToken) -> tuple[Hashable | None, ...]:
    return (token.secret,)


def _parked_keys(parked: tuple[PredictionUpdate, datetime]) -> tuple[Hashable | None, ...]:
    return (parked[0].prediction_id,)


_TOKEN_ORDER = operator.attrgetter("created_at", "id")


def _purchase_keys(p: Purchase) -> tuple[Hashable | None, ...]:
    return (None if p.payment_ref is None else (p.provider, p.payment_ref),)


class MemoryStore:
    def __init__(self) -> None:
        self.users = Table(_user_keys, "telegram")
        self.accounts = Table()
        self.entries = Table(_entry_keys, "user")
        self.holds = Table(_hold_keys, "pending")
        self.generations = Table(
            _generation_keys,
            "prediction", "idempotency", "visible", "in_flight", "upload",
        )
        self.tokens = Table(_token_keys, "secret")
        self.deliveries = Table()
        # seq -> (update, parked_at)
        self.parked = Table(_parked_keys, "prediction")
        self.parked_seq = itertools.count(1)
        self.purchases = Table(_purchase_keys, "payment")
        self.uploads = Table()
        self.deletions = Table()  # key -> queued_at
        self.lock = Turns()
        # The writes and events of the unit of work holding the lock (one at a time), so
        # the repositories are made once per store, not once per unit of work.
        self.undo: Undo = []
        self.events = EventLog()
        self.repositories: dict[str, _Repository] = {
            "users": MemoryUserRepository(self),
            "ledger": MemoryLedgerRepository(self),
            "generations": MemoryGenerationRepository(self),
            "tokens": MemoryTokenRepository(self),
            "inbox": MemoryUpdateInbox(self),
            "purchases": MemoryPurchaseRepository(self),
            "files": MemoryFileRepository(self),
        }
        # What it commits, until its end: nothing (a tuple, so the copies share it).
        self._unit_state: dict[str, object] = {"_store": self, "_committed": (), **self.repositories}

    def unit_of_work(self) -> MemoryUnitOfWork:
        """A unit of work on this store: its state is a copy of the store's own (the store,
        its repositories, nothing committed yet). Made without
        `__init__`: filling a new instance's dict from a prepared one costs less than
        setting its attributes one by one."""
        uow = object.__new__(MemoryUnitOfWork)
        uow.__dict__ = self._unit_state.copy()
        return uow

    __call__ = unit_of_work


class _Repository:
    __slots__ = ("_events", "_store", "_undo")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._undo = store.undo
        self._events = store.events


class MemoryUserRepository(_Repository):
    async def get(self, user_id: str) -> User | None:
        user: User | None = self._store.users.get(user_id)
        return user

    async def get_by_telegram_id(self, telegram_id: int) -> User | None:
        user: User | None = self._store.users.first("telegram", telegram_id)
        return user

    async def add(self, user: User) -> None:
        users = self._store.users
        if users.get(user.id) is not None:
            raise Conflict(f"user {user.id} exists")
        if user.telegram_id is not None and users.first("telegram", user.telegram_id) is not None:
            raise Conflict(f"telegram user {user.telegram_id} exists")
        await self.save(user)

    async def save(self, user: User) -> None:
        self._events.collect(user)
        self._store.users.write(user.id, user, self._undo)


class MemoryLedgerRepository(_Repository):
    async def add_account(self, account: CreditAccount) -> None:
        if self._store.accounts.get(account.user_id) is not None:
            raise Conflict(f"account {account.user_id} exists")
        await self.save_account(account)

    async def account(self, user_id: str) -> CreditAccount | None:
        account: CreditAccount | None = self._store.accounts.get(user_id)
        return account

    account_for_update = account

    async def post(self, account: CreditAccount, entry: LedgerEntry, hold: Hold | None = None) -> None:
        # Every check before any write: a Conflict leaves the tables as they were.
        store = self._store
        entries = store.entries
        if entries.get(entry.key) is not None:
            raise Conflict(f"ledger entry {entry.key} exists")
        if hold is not None:
            stored = store.holds.get(hold.key)
            if hold.state is _PENDING:
                if stored is not None:
                    raise Conflict(f"hold {hold.key} exists")
            elif stored is not None and stored.state is not _PENDING and stored.state is not hold.state:
                # Like the SQL adapter: a resolved hold never changes state again.
                raise Conflict(f"hold {hold.key} is already resolved")
        self._store_account(account)  # checks the balance before it writes
        undo = self._undo
        if hold is not None:
            store.holds.write(hold.key, hold, undo)
        entries.write(entry.key, entry, undo)

    async def save_account(self, account: CreditAccount) -> None:
        self._store_account(account)

    def _store_account(self, account: CreditAccount) -> None:
        if account.balance < 0:  # the SQL schema's CHECK
            raise Conflict("a balance cannot go below zero")
        self._events.collect(account)
        self._store.accounts.write(account.user_id, account, self._undo)

    async def append_new(self, entry: LedgerEntry) -> bool:
        entries = self._store.entries
        if entries.get(entry.key) is not None:
            return False
        entries.write(entry.key, entry, self._undo)
        return True

    async def entry(self, key: str) -> LedgerEntry | None:
        entry: LedgerEntry | None = self._store.entries.get(key)
        return entry

    async def entries(self, user_id: str) -> list[LedgerEntry]:
        return list(self._store.entries.lookup("user", user_id))  # in the order appended

    async def hold_for_update(self, key: str) -> Hold | None:
        hold: Hold | None = self._store.holds.get(key)
        return hold

    async def expired_holds(self, now: datetime, limit: int) -> list[Hold]:
        expired = [h for h in self._store.holds.lookup("pending", True) if h.expires_at <= now]
        return sorted(expired, key=lambda h: (h.expires_at, h.key))[:limit]

    async def account_ids(self) -> list[str]:
        return sorted(self._store.accounts.rows)


class MemoryGenerationRepository(_Repository):
    async def add(self, generation: Generation) -> None:
        table = self._store.generations
        if table.get(generation.id) is not None:
            raise Conflict(f"generation {generation.id} exists")
        if generation.idempotency_key is not None and table.first(
            "idempotency", (generation.user_id, generation.idempotency_key)
        ):
            raise Conflict("idempotency key already used")
        self._store_row(generation)

    async def get(self, generation_id: str) -> Generation | None:
        generation: Generation | None = self._store.generations.get(generation_id)
        return generation

    get_for_update = get

    async def get_by_prediction_for_update(self, prediction_id: str) -> Generation | None:
        generation: Generation | None = self._store.generations.first("prediction", prediction_id)
        return generation

    async def get_by_idempotency_key(self, user_id: str, key: str) -> Generation | None:
        generation: Generation | None = self._store.generations.first("idempotency", (user_id, key))
        return generation

    async def save(self, generation: Generation) -> Generation:
        return self._store_row(generation)

    def _store_row(self, generation: Generation) -> Generation:
        table = self._store.generations
        prediction_id = generation.prediction_id
        if prediction_id is not None:
            owners = table.indexes["prediction"].get(prediction_id)
            if owners and generation.id not in owners:
                raise Conflict(f"prediction {prediction_id} belongs to another generation")
        self._events.collect(generation)
        table.write(generation.id, generation, self._undo)
        return generation

    async def page(self, query: GenerationQuery) -> GenerationPage:
        matching = [
            g
            for g in self._store.generations.lookup("visible", query.user_id)
            if (query.action is None or g.action is query.action)
            and (query.status is None or g.status is query.status)
        ]
        matching.sort(key=lambda g: (g.created_at, g.id), reverse=True)
        items = matching[query.offset : query.offset + query.limit]
        return GenerationPage(items=items, total=len(matching), page=query.page, limit=query.limit)

    async def count_in_flight(self, user_id: str) -> int:
        return self._store.generations.count("in_flight", user_id)

    async def in_flight_updated_before(self, cutoff: datetime, limit: int) -> list[Generation]:
        table = self._store.generations
        rows = table.rows
        stale = [
            g
            for bucket in table.indexes["in_flight"].values()
            for g in map(rows.__getitem__, bucket)
            if g.updated_at < cutoff
        ]
        return sorted(stale, key=lambda g: (g.updated_at, g.id))[:limit]

    async def changed_since(self, user_id: str, since: datetime, limit: int) -> list[Generation]:
        # A scan: in one process the feed is always connected, so this is rarely asked.
        changed = [
            g for g in self._store.generations.rows.values()
            if g.user_id == user_id and g.updated_at >= since
        ]
        return sorted(changed, key=lambda g: (g.updated_at, g.id))[:limit]

    async def claim_for_check(self, query: CheckQuery) -> list[Generation]:
        # The unit of work holds the store's lock: nothing else can claim meanwhile.
        table = self._store.generations
        wanted = sorted(
            (g for g in table.rows.values() if query.wants(g)), key=lambda g: (g.updated_at, g.id)
        )[: query.limit]
        claimed = [g.leased(query.lease_until) for g in wanted]
        for generation in claimed:
            table.write(generation.id, generation, self._undo)
        return claimed


class MemoryTokenRepository(_Repository):
    async def add(self, token: ReplicateToken) -> None:
        tokens = self._store.tokens
        if tokens.get(token.id) is not None or tokens.first("secret", token.secret) is not None:
            raise Conflict("token exists")
        await self.save(token)

    async def get(self, token_id: str) -> ReplicateToken | None:
        token: ReplicateToken | None = self._store.tokens.get(token_id)
        return token

    get_for_update = get

    async def get_by_secret(self, secret: str) -> ReplicateToken | None:
        token: ReplicateToken | None = self._store.tokens.first("secret", secret)
        return token

    async def all(self) -> list[ReplicateToken]:
        return sorted(self._store.tokens.rows.values(), key=_TOKEN_ORDER)

    all_for_update = all

    async def save(self, token: ReplicateToken) -> None:
        self._events.collect(token)
        self._store.tokens.write(token.id, token, self._undo)


class MemoryUpdateInbox(_Repository):
    async def mark_delivered(self, delivery_id: str, now: datetime) -> bool:
        deliveries = self._store.deliveries
        if deliveries.get(delivery_id) is not None:
            return False
        deliveries.write(delivery_id, now, self._undo)
        return True

    async def park(self, update: PredictionUpdate, now: datetime) -> None:
        self._store.parked.write(next(self._store.parked_seq), (update, now), self._undo)

    async def take(self, prediction_id: str) -> list[PredictionUpdate]:
        parked = self._store.parked
        bucket = parked.indexes["prediction"].get(prediction_id)
        if bucket is None:  # the common case: no webhook came before the create's answer
            return []
        seqs = list(bucket)
        taken = [parked.rows[seq][0] for seq in seqs]
        for seq in seqs:
            parked.write(seq, None, self._undo)
        return taken

    async def unclaimed(self, parked_before: datetime, limit: int) -> list[str]:
        known = self._store.generations.indexes["prediction"]
        orphans: dict[str, None] = {}
        for update, parked_at in self._store.parked.rows.values():
            if parked_at < parked_before and update.prediction_id not in known:
                orphans[update.prediction_id] = None
        return list(orphans)[:limit]


class MemoryPurchaseRepository(_Repository):
    async def add(self, purchase: Purchase) -> None:
        if self._store.purchases.get(purchase.id) is not None:
            raise Conflict(f"purchase {purchase.id} exists")
        await self.save(purchase)

    async def get(self, purchase_id: str) -> Purchase | None:
        purchase: Purchase | None = self._store.purchases.get(purchase_id)
        return purchase

    get_for_update = get

    async def get_by_payment_for_update(self, provider: Provider, payment_ref: str) -> Purchase | None:
        purchase: Purchase | None = self._store.purchases.first("payment", (provider, payment_ref))
        return purchase

    async def save(self, purchase: Purchase) -> None:
        self._events.collect(purchase)
        self._store.purchases.write(purchase.id, purchase, self._undo)

    async def find(self, query: PurchaseQuery) -> list[Purchase]:
        matching = [
            p
            for p in self._store.purchases.rows.values()
            if (query.status is None or p.status is query.status)
            and (query.user_id is None or p.user_id == query.user_id)
        ]
        matching.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return matching[query.offset : query.offset + query.limit]
class MemoryFileRepository(_Repository):
    async def add_upload(self, upload: Upload) -> None:
        if self._store.uploads.get(upload.id) is not None:
            raise Conflict(f"upload {upload.id} exists")
        self._store.uploads.write(upload.id, upload, self._undo)

    async def upload(self, upload_id: str) -> Upload | None:
        upload: Upload | None = self._store.uploads.get(upload_id)
        return upload

    async def remove_upload(self, upload_id: str) -> None:
        self._store.uploads.write(upload_id, None, self._undo)

    async def upload_in_use(self, upload_id: str) -> bool:
        return self._store.generations.count("upload", upload_id) > 0

    async def queue_deletions(self, keys: Sequence[str], now: datetime) -> None:
        for key in keys:
            if self._store.deletions.get(key) is None:
                self._store.deletions.write(key, now, self._undo)

    async def pending_deletions(self, limit: int) -> list[str]:
        return list(itertools.islice(self._store.deletions.rows, limit))

    async def deletions_done(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._store.deletions.write(key, None, self._undo)


class MemoryUnitOfWork:
    """One transaction: the store's lock from `__aenter__` to `__aexit__`, the store's
    repositories meanwhile, its writes undone unless committed. Made by
    `MemoryStore.unit_of_work` (or calling the store)."""

    # Typed as the ports: the UnitOfWork protocol declares plain (settable) attributes.
    users: UserRepository
    ledger: LedgerRepository
    generations: GenerationRepository
    tokens: TokenRepository
    inbox: UpdateInbox
    purchases: PurchaseRepository
    files: FileRepository

    # Set by MemoryStore.unit_of_work, with the repositories above.
    _store: MemoryStore
    _committed: Sequence[Recorded]

    async def __aenter__(self) -> MemoryUnitOfWork:
        waiting = self._store.lock.take()
        if waiting is not None:  # another unit of work holds the store
            await waiting
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        store = self._store
        try:
            if store.undo:
                undo_all(store.undo)
            self._committed = store.events.close()
        finally:
            store.lock.release()

    async def commit(self) -> None:
        self._store.undo.clear()
        self._store.events.commit()

    async def rollback(self) -> None:
        undo_all(self._store.undo)
        self._store.events.rollback()

    def collect_events(self) -> list[DomainEvent]:
        committed, self._committed = self._committed, ()
        return list(map(made, committed))
