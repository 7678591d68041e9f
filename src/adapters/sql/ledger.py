"""Credit accounts, ledger entries and holds.

The balance is a cached column kept next to the append-only entries. Besides the row
lock taken by `account_for_update`, a save writes the *change* since the account was
read, conditionally: `balance = balance + :delta WHERE balance + :delta >= 0`. Two
writers can then never lose each other's update, even one that forgot the lock, and the
CHECK (balance >= 0) constraint stays a last line that is never reached. A resolved hold
never changes state again (`WHERE state = 'pending'`), and the unique `settle:`/`void:`
entry keys stop a second resolution as well.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.sql.mappers import (
    account_from_row,
    account_to_row,
    entry_from_row,
    entry_to_row,
    hold_from_row,
    hold_to_row,
)
from adapters.sql.schema import credit_accounts, credit_holds, ledger_entries
from adapters.sql.session import Session
from base_core.errors import Conflict
from base_core.ledger import CreditAccount, Hold, HoldState, LedgerEntry

a = credit_accounts
e = ledger_entries
h = credit_holds

# Built once with bound parameters, like the generations' reads: building a statement
# per call costs more than running it from SQLAlchemy's compiled cache. Parameters of an
# UPDATE are named `b_...`: a bound parameter may not share a column's name there.
ACCOUNT = sa.select(a).where(a.c.user_id == sa.bindparam("user_id"))
ACCOUNT_FOR_UPDATE = ACCOUNT.with_for_update()
# A save with nothing seen: the balance as the object has it.
SET_BALANCE = (
    sa.update(a)
    .where(a.c.user_id == sa.bindparam("b_user_id"))
    .values(balance=sa.bindparam("b_balance"))
    .returning(a.c.balance)
)
# A save of the change since the read, never taking the balance below zero.
ADD_TO_BALANCE = (
    sa.update(a)
    .where(a.c.user_id == sa.bindparam("b_user_id"), a.c.balance + sa.bindparam("b_delta") >= 0)
    .values(balance=a.c.balance + sa.bindparam("b_delta"))
    .returning(a.c.balance)
)

ENTRY = sa.select(e).where(e.c.key == sa.bindparam("key"))
ENTRIES = sa.select(e).where(e.c.user_id == sa.bindparam("user_id")).order_by(e.c.id)

HOLD_FOR_UPDATE = sa.select(h).where(h.c.key == sa.bindparam("key")).with_for_update()
HOLD_EXISTS = sa.select(h.c.key).where(h.c.key == sa.bindparam("key"))
HOLD_COLUMNS = tuple(column.key for column in h.columns)
# Resolving happens once: only a pending hold (or a repeat of the same resolution) may be
# written; a resolved hold never changes state again.
SAVE_HOLD = (
    sa.update(h)
    .where(
        h.c.key == sa.bindparam("b_where_key"),
        sa.or_(h.c.state == HoldState.PENDING.value, h.c.state == sa.bindparam("b_where_state")),
    )
    .values({name: sa.bindparam(f"b_{name}") for name in HOLD_COLUMNS})
    .returning(h.c.key)
)


class SqlLedgerRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        # user id -> balance as this unit of work last saw it in the database
        self._seen_balances: dict[str, int] = {}

    def forget(self) -> None:
        """After a rollback what was seen may not be in the database any more."""
        self._seen_balances.clear()

    # Accounts

    async def add_account(self, account: CreditAccount) -> None:
        if not await self._session.insert_new(credit_accounts, account_to_row(account)):
            raise Conflict(f"account {account.user_id} exists")
        self._seen_balances[account.user_id] = account.balance
        self._session.events.collect(account)

    async def account(self, user_id: str) -> CreditAccount | None:
        return await self._read_account(user_id, lock=False)

    async def account_for_update(self, user_id: str) -> CreditAccount | None:
        return await self._read_account(user_id, lock=True)

    async def post(self, account: CreditAccount, entry: LedgerEntry, hold: Hold | None = None) -> None:
        # The balance checked before anything is written (save_account checks it again for
        # its own callers).
        if account.balance < 0:
            raise Conflict("a balance cannot go below zero")
        if not await self._session.insert_new(ledger_entries, entry_to_row(entry)):
            raise Conflict(f"ledger entry {entry.key} exists")
        if hold is not None:
            await (self._add_hold(hold) if hold.is_pending else self._save_hold(hold))
        await self.save_account(account)

    async def save_account(self, account: CreditAccount) -> None:
        if account.balance < 0:
            raise Conflict("a balance cannot go below zero")
        seen = self._seen_balances.get(account.user_id)
        if seen is None:
            result = await self._session.execute(
                SET_BALANCE, {"b_user_id": account.user_id, "b_balance": account.balance}
            )
        else:
            result = await self._session.execute(
                ADD_TO_BALANCE, {"b_user_id": account.user_id, "b_delta": account.balance - seen}
            )
        row = result.first()
        if row is None:
            if seen is not None or await self._read_account(account.user_id, lock=False):
                raise Conflict("a balance cannot go below zero")
            await self.add_account(account)
            return
        self._seen_balances[account.user_id] = row.balance
        self._session.events.collect(account)

    async def _read_account(self, user_id: str, *, lock: bool) -> CreditAccount | None:
        statement = ACCOUNT_FOR_UPDATE if lock else ACCOUNT
        row = (await self._session.execute(statement, {"user_id": user_id})).mappings().first()
        if row is None:
            return None
        account = account_from_row(row)
        self._seen_balances[user_id] = account.balance
        return account

    # Entries

    async def append_new(self, entry: LedgerEntry) -> bool:
        # INSERT ... ON CONFLICT DO NOTHING: the transaction stays usable either way.
        return await self._session.insert_new(ledger_entries, entry_to_row(entry))

    async def entry(self, key: str) -> LedgerEntry | None:
        result = await self._session.execute(ENTRY, {"key": key})
        row = result.mappings().first()
        return entry_from_row(row) if row is not None else None

    async def entries(self, user_id: str) -> list[LedgerEntry]:
        result = await self._session.execute(ENTRIES, {"user_id": user_id})
        return [entry_from_row(row) for row in result.mappings()]

    # Holds

    async def _add_hold(self, hold: Hold) -> None:
        if not await self._session.insert_new(credit_holds, hold_to_row(hold)):
            raise Conflict(f"hold {hold.key} exists")

    async def hold_for_update(self, key: str) -> Hold | None:
        result = await self._session.execute(HOLD_FOR_UPDATE, {"key": key})
        row = result.mappings().first()
        return hold_from_row(row) if row is not None else None

    async def _save_hold(self, hold: Hold) -> None:
        """A resolved hold over its pending self (inserted when there is none)."""
        parameters = {f"b_{name}": value for name, value in hold_to_row(hold).items()}
        parameters["b_where_key"] = hold.key
        parameters["b_where_state"] = hold.state.value
        result = await self._session.execute(SAVE_HOLD, parameters)
        if result.first() is not None:
            return
        if await self._exists(hold.key):
            raise Conflict(f"hold {hold.key} is already resolved")
        await self._add_hold(hold)

    async def expired_holds(self, now: datetime, limit: int) -> list[Hold]:
        result = await self._session.execute(
            sa.select(credit_holds)
            .where(sa.text("state = 'pending'"), credit_holds.c.expires_at <= now)
            .order_by(credit_holds.c.expires_at, credit_holds.c.key)
            .limit(limit)
        )
        return [hold_from_row(row) for row in result.mappings()]

    async def account_ids(self) -> list[str]:
        result = await self._session.execute(sa.select(a.c.user_id).order_by(a.c.user_id))
        return [str(user_id) for user_id in result.scalars()]

    async def _exists(self, key: str) -> bool:
        result = await self._session.execute(HOLD_EXISTS, {"key": key})
        return result.first() is not None
