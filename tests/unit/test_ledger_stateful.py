"""The credit ledger, driven at random against a reference model of plain ints and dicts.

Like an auditor, the model re-derives every balance from the requests alone: grants,
adjustments, holds and their single resolution. Two machines: one over `CreditAccount`
and `Hold` directly, one over the use cases on the in-memory store.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adapters.memory import MemoryStore
from base_core.errors import IdempotencyConflict, InsufficientCredits, InvalidRequest
from base_core.events import CreditsHeld, CreditsRefunded, CreditsSettled
from base_core.generation import PredictionUpdate, Trigger
from base_core.ledger import (
    CreditAccount,
    EntryKind,
    Hold,
    HoldAlreadyResolved,
    HoldState,
    LedgerEntry,
    check_replay,
    hold_key_for,
)
from base_core.ports import TokenCredential
from base_core.registry import GenerationRequest, builtin_registry
from base_core.studio import Studio
from base_core.usecases import Context, StudioConfig
from base_testing import FakeInference, ManualClock, SequentialIds

T0 = datetime(2025, 11, 24, 10, 0, tzinfo=UTC)
MACHINE_SETTINGS = settings(max_examples=150, stateful_step_count=30, deadline=None)

amounts = st.integers(1, 120)
reasons = st.sampled_from(["grant", "refund", "promo", "correction"])


# --- the account and its holds ----------------------------------------------------------


class AccountMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.account = CreditAccount("u1")
        self.entries: dict[str, LedgerEntry] = {}
        self.holds: dict[str, Hold] = {}
        # The reference model.
        self.balance = 0
        self.hold_amounts: dict[str, int] = {}
        self.hold_states: dict[str, HoldState] = {}
        self.now = T0
        self.serial = 0

    def new_key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}:{self.serial}"

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def record(self, posted: tuple) -> None:
        """Take the account a posting returned, with its entry (and the hold it resolved)."""
        account, *_, entry = posted
        assert entry.key not in self.entries
        self.entries[entry.key] = entry
        # One event per posting, telling the balance after it.
        assert len(account.events) == len(self.account.events) + 1
        event = account.events[-1]
        assert (event.user_id, event.balance, event.key) == ("u1", account.balance, entry.key)
        assert self.account.balance + entry.amount == account.balance  # the old one is unchanged
        self.account = account

    def expect_refusal(self, needed: int, action) -> None:
        before = self.account.balance
        with pytest.raises(InsufficientCredits) as caught:
            action()
        assert (caught.value.needed, caught.value.available) == (needed, self.balance)
        assert self.account.balance == before

    @rule(amount=amounts, reason=reasons)
    def grant(self, amount: int, reason: str) -> None:
        self.record(self.account.grant(amount, self.new_key("grant"), self.tick(), reason))
        self.balance += amount

    @rule(amount=st.integers(-150, 150).filter(bool), reason=reasons)
    def adjust(self, amount: int, reason: str) -> None:
        key = self.new_key("adjust")
        if self.balance + amount < 0:
            self.expect_refusal(-amount, lambda: self.account.adjust(amount, key, self.tick(), reason))
            return
        self.record(self.account.adjust(amount, key, self.tick(), reason))
        self.balance += amount

    @rule(amount=st.integers(0, 80))
    def hold(self, amount: int) -> None:
        key = self.new_key("hold")
        if amount > self.balance:
            self.expect_refusal(amount, lambda: self.account.hold(amount, key, self.tick()))
            return
        posted = self.account.hold(amount, key, self.tick())
        _, hold, entry = posted
        assert (hold.amount, hold.state, entry.amount) == (amount, HoldState.PENDING, -amount)
        assert isinstance(posted[0].events[-1], CreditsHeld) and posted[0].events[-1].amount == amount
        self.record(posted)
        self.holds[key] = hold
        self.balance -= amount
        self.hold_amounts[key] = amount
        self.hold_states[key] = HoldState.PENDING

    @rule(extra=st.integers(1, 50))
    def overdraw(self, extra: int) -> None:
        needed = self.balance + extra
        self.expect_refusal(needed, lambda: self.account.hold(needed, self.new_key("hold"), self.tick()))
        self.expect_refusal(needed, lambda: self.account.adjust(-needed, self.new_key("adjust"), self.tick(), "x"))

    def pending_keys(self) -> list[str]:
        return sorted(k for k, s in self.hold_states.items() if s is HoldState.PENDING)

    def resolved_keys(self) -> list[str]:
        return sorted(k for k, s in self.hold_states.items() if s is not HoldState.PENDING)

    @precondition(lambda self: self.pending_keys())
    @rule(data=st.data())
    def settle(self, data) -> None:
        key = data.draw(st.sampled_from(self.pending_keys()))
        amount = self.hold_amounts[key]
        charge = data.draw(st.none() | st.integers(0, amount))
        posted = self.account.settle(self.holds[key], self.tick(), charge)
        settled = posted[0].events[-1]
        assert isinstance(settled, CreditsSettled)
        assert (settled.amount, settled.refunded) == (
            amount if charge is None else charge, amount - (amount if charge is None else charge)
        )
        self.holds[key] = posted[1]
        assert posted[1].state is HoldState.SETTLED
        self.record(posted)
        self.balance += amount - (amount if charge is None else charge)
        self.hold_states[key] = HoldState.SETTLED

    @precondition(lambda self: self.pending_keys())
    @rule(data=st.data())
    def void(self, data) -> None:
        key = data.draw(st.sampled_from(self.pending_keys()))
        posted = self.account.void(self.holds[key], self.tick())
        assert isinstance(posted[0].events[-1], CreditsRefunded)
        self.holds[key] = posted[1]
        self.record(posted)
        self.balance += self.hold_amounts[key]
        self.hold_states[key] = HoldState.VOIDED

    @precondition(lambda self: self.pending_keys())
    @rule(data=st.data())
    def settle_for_more_than_held(self, data) -> None:
        key = data.draw(st.sampled_from(self.pending_keys()))
        with pytest.raises(InvalidRequest):
            self.account.settle(self.holds[key], self.tick(), self.hold_amounts[key] + 1)

    @precondition(lambda self: self.resolved_keys())
    @rule(data=st.data(), how=st.sampled_from(["settle", "void"]))
    def resolve_again(self, data, how: str) -> None:
        key = data.draw(st.sampled_from(self.resolved_keys()))
        hold = self.holds[key]
        with pytest.raises(HoldAlreadyResolved) as caught:
            if how == "settle":
                self.account.settle(hold, self.tick())
            else:
                self.account.void(hold, self.tick())
        assert caught.value.state == self.hold_states[key].value

    def replayable(self) -> list[LedgerEntry]:
        return [e for e in self.entries.values() if e.kind in (EntryKind.GRANT, EntryKind.ADJUST)]

    @precondition(lambda self: self.replayable())
    @rule(data=st.data())
    def replay_the_same_request(self, data) -> None:
        entry = data.draw(st.sampled_from(self.replayable()))
        # The caller asks "was this already posted?" first and posts nothing on a replay.
        assert check_replay(
            entry, user_id=entry.user_id, kind=entry.kind, amount=entry.amount, reason=entry.reason
        )

    @precondition(lambda self: self.replayable())
    @rule(data=st.data(), change=st.sampled_from(["amount", "reason", "user", "kind"]))
    def reuse_a_key_for_something_else(self, data, change: str) -> None:
        entry = data.draw(st.sampled_from(self.replayable()))
        fields: dict[str, Any] = {
            "user_id": entry.user_id, "kind": entry.kind, "amount": entry.amount, "reason": entry.reason
        }
        fields.update({
            "amount": {"amount": entry.amount + 1},
            "reason": {"reason": entry.reason + "!"},
            "user": {"user_id": "u2"},
            "kind": {"kind": EntryKind.HOLD},
        }[change])
        with pytest.raises(IdempotencyConflict) as caught:
            check_replay(entry, **fields)
        assert caught.value.key == entry.key

    @rule()
    def a_new_key_is_not_a_replay(self) -> None:
        assert not check_replay(None, user_id="u1", kind=EntryKind.GRANT, amount=1, reason="grant")

    @invariant()
    def balance_is_re_derived_by_the_model(self) -> None:
        assert self.account.balance == self.balance

    @invariant()
    def balance_is_never_negative(self) -> None:
        assert self.account.balance >= 0

    @invariant()
    def entries_sum_to_the_balance(self) -> None:
        assert sum(e.amount for e in self.entries.values()) == self.account.balance

    @invariant()
    def each_hold_is_resolved_at_most_once(self) -> None:
        resolutions: dict[str, int] = {}
        for entry in self.entries.values():
            if entry.kind in (EntryKind.SETTLE, EntryKind.VOID):
                resolutions[entry.hold_key] = resolutions.get(entry.hold_key, 0) + 1
        for key, hold in self.holds.items():
            assert hold.state is self.hold_states[key]
            assert resolutions.get(key, 0) == (0 if hold.is_pending else 1)
            assert (hold.resolved_at is None) == hold.is_pending


AccountMachine.TestCase.settings = MACHINE_SETTINGS
TestAccount = AccountMachine.TestCase


# --- the same rules through the use cases -----------------------------------------------

FLUX = "flux-schnell"


class StudioLedgerMachine(RuleBasedStateMachine):
    """Credits through Studio: adjustments with keys, generations held, settled, refunded."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock(T0)
        self.inference = FakeInference(self.clock)
        self.studio = Studio(
            Context(
                uow=MemoryStore(),
                inference=self.inference,
                registry=builtin_registry(),
                clock=self.clock,
                ids=SequentialIds(),
                config=StudioConfig(initial_credits=20, max_in_flight_per_user=1000),
            )
        )
        self.balance = 0
        self.keys: dict[str, tuple[int, str]] = {}
        self.running: dict[str, str] = {}  # generation id -> prediction id
        self.finished: set[str] = set()
        self.serial = 0

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    @initialize()
    def sign_up(self) -> None:
        self.run(self.studio.add_token("r8_token_for_the_ledger_machine"))
        assert self.run(self.studio.ensure_user("u1")).credits == 20
        assert self.run(self.studio.ensure_user("u1")).credits == 20  # only once
        self.balance = 20

    @rule(amount=st.integers(-60, 60).filter(bool), reason=reasons)
    def adjust(self, amount: int, reason: str) -> None:
        self.serial += 1
        key = f"k{self.serial}"
        if self.balance + amount < 0:
            with pytest.raises(InsufficientCredits) as caught:
                self.run(self.studio.adjust_credits("u1", amount, reason, key))
            assert (caught.value.needed, caught.value.available) == (-amount, self.balance)
            return
        assert self.run(self.studio.adjust_credits("u1", amount, reason, key)) == self.balance + amount
        self.balance += amount
        self.keys[key] = (amount, reason)

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def replay_a_key(self, data) -> None:
        key = data.draw(st.sampled_from(sorted(self.keys)))
        amount, reason = self.keys[key]
        assert self.run(self.studio.adjust_credits("u1", amount, reason, key)) == self.balance

    @precondition(lambda self: self.keys)
    @rule(data=st.data(), delta=st.integers(1, 5))
    def reuse_a_key_differently(self, data, delta: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.keys)))
        amount, reason = self.keys[key]
        other_amount = amount + delta if amount > 0 else amount - delta  # same sign, never zero
        with pytest.raises(IdempotencyConflict):
            self.run(self.studio.adjust_credits("u1", other_amount, reason, key))
        with pytest.raises(IdempotencyConflict):
            self.run(self.studio.adjust_credits("u1", amount, reason + "?", key))

    @rule(num_outputs=st.integers(1, 4))
    def create(self, num_outputs: int) -> None:
        request = GenerationRequest("create", FLUX, prompt="a fox", settings={"num_outputs": num_outputs})
        if num_outputs > self.balance:
            with pytest.raises(InsufficientCredits) as caught:
                self.run(self.studio.create_generation("u1", request))
            assert (caught.value.needed, caught.value.available) == (num_outputs, self.balance)
            return
        generation = self.run(self.studio.create_generation("u1", request))
        self.running[generation.id] = generation.prediction_id
        self.balance -= num_outputs

    @precondition(lambda self: self.running)
    @rule(data=st.data(), outcome=st.sampled_from(["succeeded", "failed", "aborted", "canceled"]),
          duplicates=st.integers(1, 3))
    def replicate_finishes(self, data, outcome: str, duplicates: int) -> None:
        generation_id = data.draw(st.sampled_from(sorted(self.running)))
        prediction_id = self.running.pop(generation_id)
        update = {
            "succeeded": self.inference.complete,
            "failed": self.inference.fail,
            "aborted": self.inference.abort,
            "canceled": lambda p: self.run(self.inference.cancel(self.token(), p)),
        }[outcome](prediction_id)
        for n in range(duplicates):
            self.run(self.studio.apply_update(update, delivery_id=f"d-{prediction_id}-{n % 2}"))
        if outcome != "succeeded":
            self.balance += self.cost_of(generation_id)
        self.finished.add(generation_id)

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def user_deletes_a_running_one(self, data) -> None:
        generation_id = data.draw(st.sampled_from(sorted(self.running)))
        del self.running[generation_id]
        self.run(self.studio.delete_generation("u1", generation_id))
        self.balance += self.cost_of(generation_id)
        self.finished.add(generation_id)

    @precondition(lambda self: self.finished)
    @rule(data=st.data(), status=st.sampled_from(list(Trigger)[1:]))
    def late_news_changes_nothing(self, data, status: Trigger) -> None:
        generation_id = data.draw(st.sampled_from(sorted(self.finished)))
        generation = self.ledger_generation(generation_id)
        self.run(self.studio.apply_update(PredictionUpdate(generation.prediction_id, status, output=("u",))))

    def token(self) -> TokenCredential:
        token = self.run(self.studio.token_stats()).tokens[0]
        return TokenCredential(token.id, "r8_token_for_the_ledger_machine")

    def ledger_generation(self, generation_id: str):
        async def read():
            async with self.studio.context.uow() as uow:
                return await uow.generations.get(generation_id)

        return self.run(read())

    def cost_of(self, generation_id: str) -> int:
        return self.ledger_generation(generation_id).cost

    @invariant()
    def balance_is_re_derived_by_the_model(self) -> None:
        assert self.run(self.studio.balance("u1")) == self.balance

    @invariant()
    def entries_sum_to_the_balance_and_holds_resolve_once(self) -> None:
        entries = self.run(self.studio.ledger("u1"))
        balance = self.run(self.studio.balance("u1"))
        assert balance >= 0
        assert sum(e.amount for e in entries) == balance == self.balance
        resolutions: dict[str, list[EntryKind]] = {}
        for entry in entries:
            if entry.kind in (EntryKind.SETTLE, EntryKind.VOID):
                resolutions.setdefault(entry.hold_key, []).append(entry.kind)
        for generation_id in self.running:
            assert hold_key_for(generation_id) not in resolutions
        for generation_id in self.finished:
            kinds = resolutions[hold_key_for(generation_id)]
            assert len(kinds) == 1
            status = self.ledger_generation(generation_id).status.value
            assert kinds == [EntryKind.SETTLE if status == "completed" else EntryKind.VOID]


StudioLedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestStudioLedger = StudioLedgerMachine.TestCase
