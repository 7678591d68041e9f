"""The credit ledger: balances derived from an append-only list of entries.

Every change of a balance is an entry with a signed amount, so the sum of a user's entries
always equals their balance. A generation's price is reserved by a *hold* when it is
accepted (the balance drops at once), then the hold is resolved exactly once: *settled*
when the generation completes (the reservation becomes the charge) or *voided* when it
fails or is canceled (the reservation comes back). Grants and admin adjustments add or
remove credits. No entry may take a balance below zero.

Every entry has a caller-chosen key: the same key with the same fields is "already done",
the same key with different fields is an IdempotencyConflict.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import attrs

from base_core.errors import IdempotencyConflict, InsufficientCredits, InvalidRequest

DEFAULT_HOLD_TTL = timedelta(hours=2)  # Replicate stops a prediction after 30 minutes


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


@attrs.frozen
class LedgerEntry:
    key: str
    user_id: str
    kind: EntryKind
    amount: int  # signed change of the balance
    created_at: datetime = attrs.field(eq=False)
    hold_key: str | None = None  # the hold a hold/settle/void entry belongs to
    reason: str = ""


@attrs.define
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
        return self.state is HoldState.PENDING

    def is_expired(self, now: datetime) -> bool:
        return self.is_pending and now >= self.expires_at


@attrs.define
class CreditAccount:
    """One user's balance; every method returns the entry that records what it did."""

    user_id: str
    balance: int = 0

    def grant(self, amount: int, key: str, now: datetime, reason: str = "grant") -> LedgerEntry:
        if amount <= 0:
            raise InvalidRequest("amount", "a grant must be positive")
        return self._post(LedgerEntry(key, self.user_id, EntryKind.GRANT, amount, now, reason=reason))

    def adjust(self, amount: int, key: str, now: datetime, reason: str) -> LedgerEntry:
        """An administrator's correction: positive adds, negative removes, never below zero."""
        if amount == 0:
            raise InvalidRequest("amount", "must not be zero")
        return self._post(LedgerEntry(key, self.user_id, EntryKind.ADJUST, amount, now, reason=reason))

    def hold(
        self, amount: int, key: str, now: datetime, ttl: timedelta = DEFAULT_HOLD_TTL
    ) -> tuple[Hold, LedgerEntry]:
        if amount < 0:
            raise InvalidRequest("amount", "a hold must not be negative")
        entry = self._post(
            LedgerEntry(key, self.user_id, EntryKind.HOLD, -amount, now, hold_key=key, reason="hold")
        )
        return Hold(key, self.user_id, amount, HoldState.PENDING, now, now + ttl), entry

    def settle(self, hold: Hold, now: datetime, charge: int | None = None) -> LedgerEntry:
        """Post the hold, for `charge` (at most the hold) or all of it; the rest comes back."""
        charge = hold.amount if charge is None else charge
        if not 0 <= charge <= hold.amount:
            raise InvalidRequest("charge", f"must be between 0 and {hold.amount}")
        return self._resolve(hold, HoldState.SETTLED, EntryKind.SETTLE, hold.amount - charge, now)

    def void(self, hold: Hold, now: datetime) -> LedgerEntry:
        return self._resolve(hold, HoldState.VOIDED, EntryKind.VOID, hold.amount, now)

    def _resolve(
        self, hold: Hold, state: HoldState, kind: EntryKind, refund: int, now: datetime
    ) -> LedgerEntry:
        if hold.user_id != self.user_id:
            raise ValueError("the hold belongs to another account")
        if not hold.is_pending:
            raise HoldAlreadyResolved(hold.key, hold.state)
        entry = self._post(
            LedgerEntry(f"{kind.value}:{hold.key}", self.user_id, kind, refund, now, hold_key=hold.key, reason=kind.value)
        )
        hold.state = state
        hold.resolved_at = now
        return entry

    def _post(self, entry: LedgerEntry) -> LedgerEntry:
        if self.balance + entry.amount < 0:
            raise InsufficientCredits(needed=-entry.amount, available=self.balance)
        self.balance += entry.amount
        return entry


class HoldAlreadyResolved(Exception):
    """A hold was settled or voided before; the caller treats it as already done."""

    def __init__(self, key: str, state: HoldState) -> None:
        super().__init__(f"hold {key!r} is already {state.value}")
        self.key = key
        self.state = state


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


def hold_key_for(generation_id: str) -> str:
    return f"hold:{generation_id}"


def generation_of_hold(hold_key: str) -> str | None:
    """The generation a hold was taken for, or None for a hold of something else."""
    prefix, _, generation_id = hold_key.partition(":")
    return generation_id if prefix == "hold" and generation_id else None


__all__ = [
    "DEFAULT_HOLD_TTL",
    "CreditAccount",
    "EntryKind",
    "Hold",
    "HoldAlreadyResolved",
    "HoldState",
    "LedgerEntry",
    "check_replay",
    "generation_of_hold",
    "hold_key_for",
]
