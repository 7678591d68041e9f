"""In-memory storage: every repository port over plain dicts, with real transactions.

A `MemoryStore` is the database: per-instance state, good enough to run the whole service
in one process. A unit of work takes the store's lock for its whole life (like SQLite's
write transaction), stages its writes, and applies them only on commit, so a unit of work
that raises leaves nothing behind. Objects are copied on the way in and out (see
copying.py): a caller holding a domain object (and its lists and dicts) cannot change the
store behind its back. Lookups by something other than the primary key go through the
indexes in tables.py, the way the SQL schema's indexes serve them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any

from adapters.memory.copying import clone
from adapters.memory.tables import Tx, new_tables
from base_core.errors import Conflict
from base_core.generation import (
    CheckQuery,
    Generation,
    GenerationPage,
    GenerationQuery,
    PredictionUpdate,
)
from base_core.ledger import CreditAccount, Hold, LedgerEntry
from base_core.tokens import ReplicateToken
from base_core.users import User


class MemoryStore:
    def __init__(self) -> None:
        self.tables = new_tables()
        self.lock = asyncio.Lock()
        self._parked_seq = 0

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    __call__ = unit_of_work

    def next_parked_seq(self) -> int:
        self._parked_seq += 1
        return self._parked_seq


def _require(tx: Tx, table: str, key: Any) -> None:
    """What a foreign key does in the SQL schema: the referenced row must exist."""
    if not tx.exists(table, key):
        raise Conflict(f"{table} has no {key!r}")


class MemoryUserRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    async def get(self, user_id: str) -> User | None:
        return self._tx.get("users", user_id)

    async def get_by_telegram_id(self, telegram_id: int) -> User | None:
        return self._tx.first("users", "telegram", telegram_id)

    async def add(self, user: User) -> None:
        if self._tx.exists("users", user.id):
            raise Conflict(f"user {user.id} exists")
        if user.telegram_id is not None and await self.get_by_telegram_id(user.telegram_id):
            raise Conflict(f"telegram user {user.telegram_id} exists")
        self._tx.put("users", user.id, user)

    async def save(self, user: User) -> None:
        self._tx.put("users", user.id, user)


class MemoryLedgerRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    async def add_account(self, account: CreditAccount) -> None:
        if self._tx.exists("accounts", account.user_id):
            raise Conflict(f"account {account.user_id} exists")
        _require(self._tx, "users", account.user_id)
        self._tx.put("accounts", account.user_id, account)

    async def account(self, user_id: str) -> CreditAccount | None:
        return self._tx.get("accounts", user_id)

    account_for_update = account

    async def save_account(self, account: CreditAccount) -> None:
        if account.balance < 0:
            raise Conflict("a balance cannot go below zero")
        self._tx.put("accounts", account.user_id, account)

    async def append(self, entry: LedgerEntry) -> None:
        if self._tx.exists("entries", entry.key):
            raise Conflict(f"ledger entry {entry.key} exists")
        _require(self._tx, "accounts", entry.user_id)
        self._tx.put("entries", entry.key, entry)

    async def entry(self, key: str) -> LedgerEntry | None:
        return self._tx.get("entries", key)

    async def entries(self, user_id: str) -> list[LedgerEntry]:
        # Insertion order of a dict is the order entries were appended.
        return [clone(e) for _, e in self._tx.raw_lookup("entries", "user", user_id)]

    async def add_hold(self, hold: Hold) -> None:
        if self._tx.exists("holds", hold.key):
            raise Conflict(f"hold {hold.key} exists")
        _require(self._tx, "accounts", hold.user_id)
        self._tx.put("holds", hold.key, hold)

    async def hold_for_update(self, key: str) -> Hold | None:
        return self._tx.get("holds", key)

    async def save_hold(self, hold: Hold) -> None:
        stored = self._tx.raw("holds", hold.key)
        if stored is not None and not stored.is_pending and stored.state is not hold.state:
            # Like the SQL adapter: a resolved hold never changes state again.
            raise Conflict(f"hold {hold.key} is already resolved")
        self._tx.put("holds", hold.key, hold)

    async def expired_holds(self, now: datetime, limit: int) -> list[Hold]:
        pending = self._tx.raw_lookup("holds", "pending", True)
        expired = [h for _, h in pending if h.expires_at <= now]
        return [clone(h) for h in sorted(expired, key=lambda h: (h.expires_at, h.key))[:limit]]


class MemoryGenerationRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    async def add(self, generation: Generation) -> None:
        if self._tx.exists("generations", generation.id):
            raise Conflict(f"generation {generation.id} exists")
        if generation.idempotency_key is not None and await self.get_by_idempotency_key(
            generation.user_id, generation.idempotency_key
        ):
            raise Conflict("idempotency key already used")
        if generation.prediction_id is not None and await self.get_by_prediction_for_update(
            generation.prediction_id
        ):
            raise Conflict(f"prediction {generation.prediction_id} belongs to another generation")
        _require(self._tx, "users", generation.user_id)
        self._tx.put("generations", generation.id, generation)

    async def get(self, generation_id: str) -> Generation | None:
        return self._tx.get("generations", generation_id)

    get_for_update = get

    async def get_by_prediction_for_update(self, prediction_id: str) -> Generation | None:
        return self._tx.first("generations", "prediction", prediction_id)

    async def get_by_idempotency_key(self, user_id: str, key: str) -> Generation | None:
        return self._tx.first("generations", "idempotency", (user_id, key))

    async def save(self, generation: Generation) -> None:
        if generation.prediction_id is not None:
            owners = self._tx.raw_lookup("generations", "prediction", generation.prediction_id)
            if any(pk != generation.id for pk, _ in owners):
                raise Conflict(f"prediction {generation.prediction_id} belongs to another generation")
        self._tx.put("generations", generation.id, generation)

    async def list(self, query: GenerationQuery) -> GenerationPage:
        matching = [
            g
            for _, g in self._tx.raw_lookup("generations", "visible", query.user_id)
            if (query.action is None or g.action is query.action)
            and (query.status is None or g.status is query.status)
        ]
        matching.sort(key=lambda g: (g.created_at, g.id), reverse=True)
        items = [clone(g) for g in matching[query.offset : query.offset + query.limit]]
        return GenerationPage(items=items, total=len(matching), page=query.page, limit=query.limit)

    async def count_in_flight(self, user_id: str) -> int:
        return sum(1 for _ in self._tx.raw_lookup("generations", "in_flight_user", user_id))

    async def in_flight_updated_before(self, cutoff: datetime, limit: int) -> list[Generation]:
        in_flight = self._tx.raw_lookup("generations", "in_flight", True)
        stale = [g for _, g in in_flight if g.updated_at < cutoff]
        return [clone(g) for g in sorted(stale, key=lambda g: (g.updated_at, g.id))[:limit]]

    async def claim_for_check(self, query: CheckQuery) -> list[Generation]:
        # The unit of work holds the store's lock: nothing else can claim meanwhile.
        wanted = [
            clone(g)
            for g in sorted(
                (g for g in self._tx.raw_values("generations") if query.wants(g)),
                key=lambda g: (g.updated_at, g.id),
            )[: query.limit]
        ]
        for generation in wanted:
            generation.next_check_at = query.lease_until
            self._tx.put("generations", generation.id, generation)
        return wanted


class MemoryTokenRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    async def add(self, token: ReplicateToken) -> None:
        if self._tx.exists("tokens", token.id) or await self.get_by_secret(token.secret):
            raise Conflict("token exists")
        self._tx.put("tokens", token.id, token)

    async def get(self, token_id: str) -> ReplicateToken | None:
        return self._tx.get("tokens", token_id)

    get_for_update = get

    async def get_by_secret(self, secret: str) -> ReplicateToken | None:
        return self._tx.first("tokens", "secret", secret)

    async def list(self) -> list[ReplicateToken]:
        pool = sorted(self._tx.raw_values("tokens"), key=lambda t: (t.created_at, t.id))
        return [clone(t) for t in pool]

    list_for_update = list

    async def save(self, token: ReplicateToken) -> None:
        self._tx.put("tokens", token.id, token)


class MemoryUpdateInbox:
    def __init__(self, tx: Tx, next_seq: Callable[[], int]) -> None:
        self._tx = tx
        self._next_seq = next_seq

    async def mark_delivered(self, delivery_id: str, now: datetime) -> bool:
        if self._tx.exists("deliveries", delivery_id):
            return False
        self._tx.put("deliveries", delivery_id, now)
        return True

    async def park(self, update: PredictionUpdate, now: datetime) -> None:
        self._tx.put("parked", self._next_seq(), update)

    async def take(self, prediction_id: str) -> list[PredictionUpdate]:
        taken = sorted(self._tx.raw_lookup("parked", "prediction", prediction_id))
        for seq, _ in taken:
            self._tx.delete("parked", seq)
        return [clone(update) for _, update in taken]


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._tx = Tx(store.tables)
        self.users = MemoryUserRepository(self._tx)
        self.ledger = MemoryLedgerRepository(self._tx)
        self.generations = MemoryGenerationRepository(self._tx)
        self.tokens = MemoryTokenRepository(self._tx)
        self.inbox = MemoryUpdateInbox(self._tx, store.next_parked_seq)

    async def __aenter__(self) -> MemoryUnitOfWork:
        await self._store.lock.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            self._store.lock.release()

    async def commit(self) -> None:
        self._tx.apply()

    async def rollback(self) -> None:
        self._tx.discard()
