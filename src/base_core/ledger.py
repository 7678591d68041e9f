"""The credit ledger: balances derived from an append-only list of entries.

Every change of a balance is an entry with a signed amount, so the sum of a user's entries
always equals their balance. A generation's price is reserved by a *hold* when it is
accepted (the balance drops at once), then the hold is resolved exactly once: *settled*
when the generation completes (the reservation becomes the charge) or *voided* when it
fails or is canceled (the reservation comes back). Grants and admin adjustments add or
remove credits. No entry may take a balance below zero.

Accounts and holds are frozen: a method returns the new state, the entry, and (on the
account) the domain event of the change.

Every entry has a caller-chosen key: the same key with the same fields is "already done",
the same key with different fields is an IdempotencyConflict.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs

from base_core.errors import (
    HoldAlreadyResolved,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
)
from base_core.events import (
    CreditEvent,
    CreditsDeducted,
    CreditsGranted,
    CreditsHeld,
    CreditsPurchased,
    CreditsRefunded,
    CreditsSettled,
    RecordsEvents,
)
from base_core.frozen import restore

DEFAULT_HOLD_TTL = timedelta(hours=2)  # Replicate stops a prediction after 30 minutes
PURCHASE_REASON = "purchase"
PURCHASE_REFUND_REASON = "purchase refund"


class EntryKind(StrEnum):
    GRANT = "grant"
    HOLD = "hold"
    SETTLE = "settle"
    VOID = "void"
    ADJUST = "adjust"


class HoldState(StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    VOIDED = "voided"


# Module names for the members the hot paths read: on Python 3.11 `HoldState.PENDING` goes
# through the enum class's `__getattr__` hook, ten times the cost of a global.
_PENDING, _SETTLED, _VOIDED = HoldState.PENDING, HoldState.SETTLED, HoldState.VOIDED
_HOLD, _SETTLE, _VOID = EntryKind.HOLD, EntryKind.SETTLE, EntryKind.VOID


@attrs.frozen(slots=False)  # made on every change of a balance: a dict-filling __init__ is cheaper
class LedgerEntry:
    key: str
    user_id: str
    kind: EntryKind
    amount: int  # signed change of the balance
    created_at: datetime = attrs.field(eq=False)
    hold_key: str | None = None  # the hold a hold/settle/void entry belongs to
    reason: str = ""
    purchase_id: str | None = None  # the purchase a purchase (or purchase refund) entry is for


@attrs.frozen(slots=False)
class Hold:
    key: str
    user_id: str
    amount: int
    state: HoldState
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None = None

    @property
    def is_pending(self) -> bool:
        return self.state is _PENDING

    def resolved(self, state: HoldState, now: datetime) -> Hold:
        if self.state is not _PENDING:
            raise HoldAlreadyResolved(self.key, self.state.value)
        changed = self.__dict__.copy()
        changed["state"] = state
        changed["resolved_at"] = now
        return restore(Hold, changed)


@attrs.frozen(slots=False)
class CreditAccount(RecordsEvents):
    """One user's balance. Frozen: every method returns the account after the change, with
    the entry that records it; the account has recorded the change's domain event."""

    user_id: str
    balance: int = 0

    def grant(
        self, amount: int, key: str, now: datetime, reason: str = "grant"
    ) -> tuple[CreditAccount, LedgerEntry]:
        if amount <= 0:
            raise InvalidRequest("amount", "a grant must be positive")
        entry = LedgerEntry(key, self.user_id, EntryKind.GRANT, amount, now, reason=reason)
        return self._post(entry, CreditsGranted, amount, reason), entry

    def adjust(
        self, amount: int, key: str, now: datetime, reason: str
    ) -> tuple[CreditAccount, LedgerEntry]:
        """An administrator's correction: positive adds, negative removes, never below zero."""
        if amount == 0:
            raise InvalidRequest("amount", "must not be zero")
        entry = LedgerEntry(key, self.user_id, EntryKind.ADJUST, amount, now, reason=reason)
        kind = CreditsGranted if amount > 0 else CreditsDeducted
        return self._post(entry, kind, abs(amount), reason), entry

    def credit_purchase(
        self, amount: int, key: str, now: datetime, *, purchase_id: str, provider: str, pack_id: str
    ) -> tuple[CreditAccount, LedgerEntry]:
        """A paid purchase's credits; the key is the provider's charge, so it posts once."""
        if amount <= 0:
            raise InvalidRequest("amount", "a purchase credits a positive amount")
        entry = LedgerEntry(
            key, self.user_id, EntryKind.GRANT, amount, now, reason=PURCHASE_REASON, purchase_id=purchase_id
        )
        account = self._post(entry, CreditsPurchased, amount, purchase_id, provider, pack_id)
        return account, entry

    def take_back_purchase(
        self, credits: int, key: str, now: datetime, *, purchase_id: str
    ) -> tuple[CreditAccount, LedgerEntry | None, int]:
        """A refunded purchase's credits taken back, as far as the balance goes: the
        account, the entry (None when nothing is left to take) and what was taken."""
        taken = min(credits, self.balance)
        if taken <= 0:
            return self, None, 0
        entry = LedgerEntry(
            key, self.user_id, EntryKind.ADJUST, -taken, now, reason=PURCHASE_REFUND_REASON,
            purchase_id=purchase_id,
        )
        return self._post(entry, CreditsDeducted, taken, PURCHASE_REFUND_REASON), entry, taken

    def hold(
        self, amount: int, key: str, now: datetime, ttl: timedelta = DEFAULT_HOLD_TTL
    ) -> tuple[CreditAccount, Hold, LedgerEntry]:
        if amount < 0:
            raise InvalidRequest("amount", "a hold must not be negative")
        # By position (… hold_key, reason): a class called with keywords builds a dict of them.
        entry = LedgerEntry(key, self.user_id, _HOLD, -amount, now, key, "hold")
        account = self._post(entry, CreditsHeld, amount, key)
        return account, Hold(key, self.user_id, amount, _PENDING, now, now + ttl), entry

    def settle(
        self, hold: Hold, now: datetime, charge: int | None = None
    ) -> tuple[CreditAccount, Hold, LedgerEntry]:
        """Post the hold, for `charge` (at most the hold) or all of it; the rest comes back."""
        charge = hold.amount if charge is None else charge
        if not 0 <= charge <= hold.amount:
            raise InvalidRequest("charge", f"must be between 0 and {hold.amount}")
        refund = hold.amount - charge
        resolved, entry = self._resolve(hold, _SETTLED, _SETTLE, refund, now)
        account = self._post(entry, CreditsSettled, charge, hold.key, refund)
        return account, resolved, entry

    def void(self, hold: Hold, now: datetime) -> tuple[CreditAccount, Hold, LedgerEntry]:
        resolved, entry = self._resolve(hold, _VOIDED, _VOID, hold.amount, now)
        return self._post(entry, CreditsRefunded, hold.amount, hold.key), resolved, entry

    def _resolve(
        self, hold: Hold, state: HoldState, kind: EntryKind, refund: int, now: datetime
    ) -> tuple[Hold, LedgerEntry]:
        if hold.user_id != self.user_id:
            raise ValueError("the hold belongs to another account")
        resolved = hold.resolved(state, now)
        reason = str(kind)  # a StrEnum's str is its value
        # By position (… hold_key, reason), as in `hold`.
        entry = LedgerEntry(f"{reason}:{hold.key}", self.user_id, kind, refund, now, hold.key, reason)
        return resolved, entry

    def _post(self, entry: LedgerEntry, event: type[CreditEvent], amount: int, *own: Any) -> CreditAccount:
        """The account with `entry` posted: the one place a balance changes. It records
        `event(at, user_id, amount, balance, key, *own)`, `own` being the event's own fields
        in their order (events.py)."""
        balance = self.balance + entry.amount
        if balance < 0:
            raise InsufficientCredits(needed=-entry.amount, available=self.balance)
        recorded = (event, entry.created_at, self.user_id, amount, balance, entry.key, *own)
        state = self.__dict__.copy()
        state["balance"] = balance
        posted = restore(CreditAccount, state)
        _set_recorded(posted, "recorded", self.recorded + (recorded,))
        return posted


# `events.with_recorded`, without its call: every generation's hold and its settling post.
_set_recorded = object.__setattr__


def check_replay(
    existing: LedgerEntry | None, *, user_id: str, kind: EntryKind, amount: int, reason: str
) -> bool:
    """Whether this request was already posted as `existing`; raise when its key was used
    for something else."""
    if existing is None:
        return False
    if (existing.user_id, existing.kind, existing.amount, existing.reason) == (user_id, kind, amount, reason):
        return True
    raise IdempotencyConflict(existing.key)


class HistoryKind(StrEnum):
    """An entry as a user's history names it."""

    INITIAL_GRANT = "initial_grant"
    HOLD = "hold"
    SETTLE = "settle"
    REFUND = "refund"
    PURCHASE = "purchase"
    PURCHASE_REFUND = "purchase_refund"
    ADMIN_GRANT = "admin_grant"
    ADMIN_DEDUCTION = "admin_deduction"


def history_kind(entry: LedgerEntry) -> HistoryKind:
    if entry.kind is EntryKind.HOLD:
        return HistoryKind.HOLD
    if entry.kind is EntryKind.SETTLE:
        return HistoryKind.SETTLE
    if entry.kind is EntryKind.VOID:
        return HistoryKind.REFUND
    if entry.purchase_id is not None:
        return HistoryKind.PURCHASE if entry.amount > 0 else HistoryKind.PURCHASE_REFUND
    if entry.key.startswith("initial:"):
        return HistoryKind.INITIAL_GRANT
    return HistoryKind.ADMIN_GRANT if entry.amount > 0 else HistoryKind.ADMIN_DEDUCTION


def purchase_entry_key(provider: str, charge_id: str) -> str:
    """A purchase's credit entry: keyed by the provider's charge, so it posts once."""
    return f"purchase:{provider}:{charge_id}"


def purchase_refund_key(purchase_id: str) -> str:
    return f"purchase-refund:{purchase_id}"


def hold_key_for(generation_id: str) -> str:
    return f"hold:{generation_id}"


def generation_of_hold(hold_key: str) -> str | None:
    """The generation a hold was taken for, or None for a hold of something else."""
    prefix, _, generation_id = hold_key.partition(":")
    return generation_id if prefix == "hold" and generation_id else None


__all__ = [
    "DEFAULT_HOLD_TTL",
    "PURCHASE_REASON",
    "PURCHASE_REFUND_REASON",
    "CreditAccount",
    "EntryKind",
    "HistoryKind",
    "Hold",
    "HoldAlreadyResolved",
    "HoldState",
    "LedgerEntry",
    "check_replay",
    "generation_of_hold",
    "history_kind",
    "hold_key_for",
    "purchase_entry_key",
    "purchase_refund_key",
]
