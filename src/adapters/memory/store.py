"""In-memory storage: every repository port over plain dicts, with real transactions.

A `MemoryStore` is the database: per-instance state, good enough to run the whole service
in one process. A unit of work takes the store's lock for its whole life (like SQLite's
write transaction), stages its writes, and applies them only on commit, so a unit of work
that raises leaves nothing behind. Objects are deep-copied on the way in and out: a caller
holding a domain object (and its lists and dicts) cannot change the store behind its back.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from base_core.errors import Conflict
from base_core.generation import (
    IN_FLIGHT,
    CheckQuery,
    Generation,
    GenerationPage,
    GenerationQuery,
    PredictionUpdate,
)
from base_core.ledger import CreditAccount, Hold, HoldState, LedgerEntry
from base_core.tokens import ReplicateToken
from base_core.users import User

T = TypeVar("T")
_MISSING = object()


class MemoryStore:
    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {
            "users": {},
            "accounts": {},
            "entries": {},
            "holds": {},
            "generations": {},
            "tokens": {},
            "deliveries": {},
            "parked": {},
        }
        self.lock = asyncio.Lock()
        self._parked_seq = 0

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    __call__ = unit_of_work

    def next_parked_seq(self) -> int:
        self._parked_seq += 1
        return self._parked_seq


class _Tx:
    """The staged writes of one unit of work over the store's tables."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.staged: dict[str, dict[Any, Any]] = {name: {} for name in store.tables}

    def get(self, table: str, key: Any) -> Any:
        value = self.staged[table].get(key, _MISSING)
        if value is _MISSING:
            value = self.store.tables[table].get(key)
        return None if value is None else copy.deepcopy(value)

    def put(self, table: str, key: Any, value: Any) -> None:
        self.staged[table][key] = copy.deepcopy(value)

    def delete(self, table: str, key: Any) -> None:
        self.staged[table][key] = None

    def values(self, table: str) -> Iterable[Any]:
        merged = dict(self.store.tables[table])
        merged.update(self.staged[table])
        return [copy.deepcopy(v) for v in merged.values() if v is not None]

    def find(self, table: str, match: Callable[[Any], bool]) -> Any:
        for value in self.values(table):
            if match(value):
                return value
        return None

    def apply(self) -> None:
        for name, writes in self.staged.items():
            table = self.store.tables[name]
            for key, value in writes.items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value
            writes.clear()


def _require(tx: _Tx, table: str, key: Any) -> None:
    """What a foreign key does in the SQL schema: the referenced row must exist."""
    if tx.get(table, key) is None:
        raise Conflict(f"{table} has no {key!r}")


class MemoryUserRepository:
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def get(self, user_id: str) -> User | None:
        return self._tx.get("users", user_id)

    async def get_by_telegram_id(self, telegram_id: int) -> User | None:
        return self._tx.find("users", lambda u: u.telegram_id == telegram_id)

    async def add(self, user: User) -> None:
        if self._tx.get("users", user.id) is not None:
            raise Conflict(f"user {user.id} exists")
        if user.telegram_id is not None and await self.get_by_telegram_id(user.telegram_id):
            raise Conflict(f"telegram user {user.telegram_id} exists")
        self._tx.put("users", user.id, user)

    async def save(self, user: User) -> None:
        self._tx.put("users", user.id, user)


class MemoryLedgerRepository:
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add_account(self, account: CreditAccount) -> None:
        if self._tx.get("accounts", account.user_id) is not None:
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
        if self._tx.get("entries", entry.key) is not None:
            raise Conflict(f"ledger entry {entry.key} exists")
        _require(self._tx, "accounts", entry.user_id)
        self._tx.put("entries", entry.key, entry)

    async def entry(self, key: str) -> LedgerEntry | None:
        return self._tx.get("entries", key)

    async def entries(self, user_id: str) -> list[LedgerEntry]:
        # Insertion order of a dict is the order entries were appended.
        return [e for e in self._tx.values("entries") if e.user_id == user_id]

    async def add_hold(self, hold: Hold) -> None:
        if self._tx.get("holds", hold.key) is not None:
            raise Conflict(f"hold {hold.key} exists")
        _require(self._tx, "accounts", hold.user_id)
        self._tx.put("holds", hold.key, hold)

    async def hold_for_update(self, key: str) -> Hold | None:
        return self._tx.get("holds", key)

    async def save_hold(self, hold: Hold) -> None:
        stored = self._tx.get("holds", hold.key)
        if stored is not None and not stored.is_pending and stored.state is not hold.state:
            # Like the SQL adapter: a resolved hold never changes state again.
            raise Conflict(f"hold {hold.key} is already resolved")
        self._tx.put("holds", hold.key, hold)

    async def expired_holds(self, now: datetime, limit: int) -> list[Hold]:
        expired = [
            h for h in self._tx.values("holds") if h.state is HoldState.PENDING and h.expires_at <= now
        ]
        return sorted(expired, key=lambda h: (h.expires_at, h.key))[:limit]


class MemoryGenerationRepository:
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add(self, generation: Generation) -> None:
        if self._tx.get("generations", generation.id) is not None:
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
        return self._tx.find("generations", lambda g: g.prediction_id == prediction_id)

    async def get_by_idempotency_key(self, user_id: str, key: str) -> Generation | None:
        return self._tx.find(
            "generations", lambda g: g.user_id == user_id and g.idempotency_key == key
        )

    async def save(self, generation: Generation) -> None:
        if generation.prediction_id is not None:
            other = await self.get_by_prediction_for_update(generation.prediction_id)
            if other is not None and other.id != generation.id:
                raise Conflict(f"prediction {generation.prediction_id} belongs to another generation")
        self._tx.put("generations", generation.id, generation)

    async def list(self, query: GenerationQuery) -> GenerationPage:
        matching = [
            g
            for g in self._tx.values("generations")
            if g.user_id == query.user_id
            and not g.is_deleted
            and (query.action is None or g.action is query.action)
            and (query.status is None or g.status is query.status)
        ]
        matching.sort(key=lambda g: (g.created_at, g.id), reverse=True)
        items = matching[query.offset : query.offset + query.limit]
        return GenerationPage(items=items, total=len(matching), page=query.page, limit=query.limit)

    async def count_in_flight(self, user_id: str) -> int:
        return sum(
            1 for g in self._tx.values("generations") if g.user_id == user_id and g.status in IN_FLIGHT
        )

    async def in_flight_updated_before(self, cutoff: datetime, limit: int) -> list[Generation]:
        stale = [
            g for g in self._tx.values("generations") if g.status in IN_FLIGHT and g.updated_at < cutoff
        ]
        return sorted(stale, key=lambda g: (g.updated_at, g.id))[:limit]

    async def claim_for_check(self, query: CheckQuery) -> list[Generation]:
        # The unit of work holds the store's lock: nothing else can claim meanwhile.
        wanted = sorted(
            (g for g in self._tx.values("generations") if query.wants(g)),
            key=lambda g: (g.updated_at, g.id),
        )[: query.limit]
        for generation in wanted:
            generation.next_check_at = query.lease_until
            self._tx.put("generations", generation.id, generation)
        return wanted


class MemoryTokenRepository:
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def add(self, token: ReplicateToken) -> None:
        if self._tx.get("tokens", token.id) is not None or await self.get_by_secret(token.secret):
            raise Conflict("token exists")
        self._tx.put("tokens", token.id, token)

    async def get(self, token_id: str) -> ReplicateToken | None:
        return self._tx.get("tokens", token_id)

    get_for_update = get

    async def get_by_secret(self, secret: str) -> ReplicateToken | None:
        return self._tx.find("tokens", lambda t: t.secret == secret)

    async def list(self) -> list[ReplicateToken]:
        return sorted(self._tx.values("tokens"), key=lambda t: (t.created_at, t.id))

    list_for_update = list

    async def save(self, token: ReplicateToken) -> None:
        self._tx.put("tokens", token.id, token)


class MemoryUpdateInbox:
    def __init__(self, tx: _Tx) -> None:
        self._tx = tx

    async def mark_delivered(self, delivery_id: str, now: datetime) -> bool:
        if self._tx.get("deliveries", delivery_id) is not None:
            return False
        self._tx.put("deliveries", delivery_id, now)
        return True

    async def park(self, update: PredictionUpdate, now: datetime) -> None:
        self._tx.put("parked", self._tx.store.next_parked_seq(), update)

    async def take(self, prediction_id: str) -> list[PredictionUpdate]:
        taken = []
        for key, update in sorted(
            (k, v) for k, v in {**self._tx.store.tables["parked"], **self._tx.staged["parked"]}.items()
            if v is not None
        ):
            if update.prediction_id == prediction_id:
                taken.append(update)
                self._tx.delete("parked", key)
        return taken


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._tx = _Tx(store)
        self.users = MemoryUserRepository(self._tx)
        self.ledger = MemoryLedgerRepository(self._tx)
        self.generations = MemoryGenerationRepository(self._tx)
        self.tokens = MemoryTokenRepository(self._tx)
        self.inbox = MemoryUpdateInbox(self._tx)

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
        for writes in self._tx.staged.values():
            writes.clear()
