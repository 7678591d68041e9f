"""Purchases driven at random against a reference model: paid once, refunded once, never
below zero, the shortfall recorded; and the lifecycle table itself.

The model knows only the requests: which purchases exist, which charge paid each, how many
credits the user has spent. Deliveries repeat, arrive for other charges, with wrong
amounts, after expiry; the books must agree with the model after every step.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.memory import MemoryStore
from base_core.errors import Conflict
from base_core.packs import BUILTIN_PACKS
from base_core.purchases import TRANSITIONS, Provider, Purchase, PurchaseStatus
from base_core.registry import builtin_registry
from base_core.studio import Studio
from base_core.usecases import Context, StudioConfig
from base_core.usecases.purchases import NewsKind, PaymentNews
from base_testing import FakeInference, FakePayments, ManualClock, SequentialIds

T0 = datetime(2025, 11, 24, 10, 0, tzinfo=UTC)
INITIAL = 5
USER = "buyer"


class PurchaseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        clock = ManualClock()
        self.studio = Studio(Context(
            uow=MemoryStore(), inference=FakeInference(clock), registry=builtin_registry(), clock=clock,
            ids=SequentialIds(), config=StudioConfig(initial_credits=INITIAL),
            payments={p: FakePayments(p) for p in Provider},
        ))
        self.run(self.studio.ensure_user(USER))
        # The model.
        self.balance = INITIAL
        self.purchases: dict[str, Purchase] = {}  # as started
        self.status: dict[str, PurchaseStatus] = {}
        self.charge: dict[str, str] = {}
        self.credited: dict[str, int] = {}
        self.charges = 0

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.loop.close()

    def _paid_news(self, purchase: Purchase, charge: str, amount: int | None = None) -> PaymentNews:
        return PaymentNews(
            NewsKind.PAID, purchase.provider, purchase_id=purchase.id, charge_id=charge,
            currency=purchase.currency, amount=purchase.amount if amount is None else amount, payer_ref="1",
        )

    @rule(pack=st.sampled_from(BUILTIN_PACKS), provider=st.sampled_from(list(Provider)))
    def start(self, pack, provider) -> None:
        purchase = self.run(self.studio.start_purchase(USER, pack.id, provider))
        self.purchases[purchase.id] = purchase
        self.status[purchase.id] = PurchaseStatus.PENDING

    @precondition(lambda self: self.purchases)
    @rule(data=st.data(), wrong_amount=st.booleans(), copies=st.integers(1, 3))
    def pay(self, data, wrong_amount, copies) -> None:
        pid = data.draw(st.sampled_from(sorted(self.purchases)))
        purchase = self.purchases[pid]
        self.charges += 1
        charge = f"charge-{self.charges}"
        amount = purchase.amount + 1 if wrong_amount else None
        for _ in range(copies):
            self.run(self.studio.apply_payment(self._paid_news(purchase, charge, amount)))
        if self.status[pid] is PurchaseStatus.PENDING:
            self.charge[pid] = charge
            if wrong_amount:
                self.status[pid] = PurchaseStatus.FAILED
            else:
                self.status[pid] = PurchaseStatus.PAID
                self.credited[pid] = purchase.credits
                self.balance += purchase.credits

    @precondition(lambda self: self.charge)
    @rule(data=st.data())
    def redeliver(self, data) -> None:
        pid = data.draw(st.sampled_from(sorted(self.charge)))
        purchase = self.purchases[pid]
        self.run(self.studio.apply_payment(self._paid_news(purchase, self.charge[pid])))

    @precondition(lambda self: self.purchases)
    @rule(data=st.data(), copies=st.integers(1, 3))
    def refund(self, data, copies) -> None:
        pid = data.draw(st.sampled_from(sorted(self.purchases)))
        news = PaymentNews(NewsKind.REFUNDED, self.purchases[pid].provider, purchase_id=pid,
                           charge_id=self.charge.get(pid))
        before = self.status[pid]
        for _ in range(copies):
            self.run(self.studio.apply_payment(news))
        if before is PurchaseStatus.PAID or (before is PurchaseStatus.FAILED and pid in self.charge):
            taken = min(self.credited.get(pid, 0), self.balance)
            self.balance -= taken
            self.status[pid] = PurchaseStatus.REFUNDED
            found = self.run(self.studio.purchase(USER, pid))
            assert (found.deducted, found.shortfall) == (taken, self.credited.get(pid, 0) - taken)

    @precondition(lambda self: self.purchases)
    @rule(data=st.data(), kind=st.sampled_from([NewsKind.EXPIRED, NewsKind.FAILED]))
    def end(self, data, kind) -> None:
        pid = data.draw(st.sampled_from(sorted(self.purchases)))
        self.run(self.studio.apply_payment(PaymentNews(kind, self.purchases[pid].provider, purchase_id=pid)))
        if self.status[pid] is PurchaseStatus.PENDING:
            self.status[pid] = PurchaseStatus.EXPIRED if kind == NewsKind.EXPIRED else PurchaseStatus.FAILED

    @precondition(lambda self: self.balance > 0)
    @rule(data=st.data())
    def spend(self, data) -> None:
        amount = data.draw(st.integers(1, self.balance))
        self.run(self.studio.adjust_credits(USER, -amount, "spent"))
        self.balance -= amount

    @invariant()
    def books_agree(self) -> None:
        assert self.run(self.studio.balance(USER)) == self.balance >= 0
        assert self.run(self.studio.audit()) == []
        for pid, status in self.status.items():
            assert self.run(self.studio.purchase(USER, pid)).status is status


TestPurchaseMachine = PurchaseMachine.TestCase
TestPurchaseMachine.settings = settings(max_examples=120, stateful_step_count=25, deadline=None)


@given(st.sampled_from(list(PurchaseStatus)), st.sampled_from(list(PurchaseStatus)))
def test_only_the_table_s_transitions_are_allowed(start: PurchaseStatus, target: PurchaseStatus) -> None:
    pack = BUILTIN_PACKS[0]
    purchase = Purchase.start("p", "u", pack, Provider.TELEGRAM, T0)
    purchase = _force(purchase, start)
    allowed = target in TRANSITIONS[start]
    if target is PurchaseStatus.PAID:
        attempt = lambda: purchase.paid("c", T0)  # noqa: E731
    elif target is PurchaseStatus.REFUNDED:
        attempt = lambda: purchase.refunded(0, T0)  # noqa: E731
        allowed = allowed and (start is PurchaseStatus.PAID or purchase.charge_id is not None)
    elif target in (PurchaseStatus.EXPIRED, PurchaseStatus.FAILED):
        ended = purchase.ended(target, "r", T0)
        assert (ended is not None) == allowed
        return
    else:
        return
    if allowed:
        assert attempt().status is target
    else:
        with pytest.raises(Conflict):
            attempt()


def _force(purchase: Purchase, status: PurchaseStatus) -> Purchase:
    from base_core.frozen import replace

    charge = "c" if status in (PurchaseStatus.PAID, PurchaseStatus.REFUNDED) else None
    return replace(purchase, status=status, charge_id=charge, credited=purchase.credits if charge else 0)
