"""Buying credits through `Studio`, on every storage backend: paid once, refunded once."""

from __future__ import annotations

import asyncio

import pytest

from base_core.errors import Conflict, InvalidRequest, NotFound
from base_core.ledger import HistoryKind
from base_core.purchases import Provider, PurchaseQuery, PurchaseStatus
from base_core.registry import builtin_registry
from base_core.studio import Studio
from base_core.usecases import Context, StudioConfig
from base_core.usecases.purchases import NewsKind, PaymentNews
from base_testing import FakeInference, FakePayments, ManualClock, SequentialIds

INITIAL = 10
TG, ST = Provider.TELEGRAM, Provider.STRIPE


class Shop:
    def __init__(self, uow_factory) -> None:
        self.clock = ManualClock()
        self.telegram = FakePayments(TG)
        self.stripe = FakePayments(ST)
        self.uow = uow_factory
        self.studio = Studio(Context(
            uow=uow_factory, inference=FakeInference(self.clock), registry=builtin_registry(),
            clock=self.clock, ids=SequentialIds(), config=StudioConfig(initial_credits=INITIAL),
            payments={TG: self.telegram, ST: self.stripe},
        ))

    async def buy(self, user: str = "alice", pack: str = "starter", provider: Provider = TG):
        await self.studio.ensure_user(user)
        return await self.studio.start_purchase(user, pack, provider)

    def paid(self, purchase, charge: str = "charge-1", **fields) -> PaymentNews:
        values = {"currency": purchase.currency, "amount": purchase.amount, "payer_ref": "42"}
        values.update(fields)
        return PaymentNews(NewsKind.PAID, purchase.provider, purchase_id=purchase.id, charge_id=charge, **values)


@pytest.fixture
def shop(uow_factory) -> Shop:
    return Shop(uow_factory)


async def test_a_purchase_starts_pending_with_its_checkout(shop) -> None:
    purchase = await shop.buy()
    assert purchase.status is PurchaseStatus.PENDING
    assert purchase.checkout_url.endswith(purchase.id)
    assert (purchase.amount, purchase.currency, purchase.credits) == (50, "XTR", 100)
    stripe = await shop.buy(provider=ST)
    assert (stripe.amount, stripe.currency, stripe.checkout_ref) == (199, "usd", f"cs_{stripe.id}")
    assert (await shop.studio.purchase("alice", purchase.id)).status is PurchaseStatus.PENDING


async def test_an_unknown_pack_or_unconfigured_provider_is_refused(shop, uow_factory) -> None:
    await shop.studio.ensure_user("alice")
    with pytest.raises(InvalidRequest, match="pack_id"):
        await shop.studio.start_purchase("alice", "nope", TG)
    bare = Studio(attrs_evolve_without_payments(shop.studio.context))
    with pytest.raises(InvalidRequest, match="not configured"):
        await bare.start_purchase("alice", "starter", ST)


def attrs_evolve_without_payments(context: Context) -> Context:
    import attrs

    return attrs.evolve(context, payments={})


async def test_a_failed_checkout_fails_the_purchase(shop) -> None:
    await shop.studio.ensure_user("alice")
    shop.telegram.fail_next = "checkout"
    with pytest.raises(Exception, match="checkout refused"):
        await shop.studio.start_purchase("alice", "starter", TG)
    [purchase] = await shop.studio.purchases(PurchaseQuery())
    assert purchase.status is PurchaseStatus.FAILED


async def test_a_payment_credits_once_however_often_it_is_delivered(shop) -> None:
    purchase = await shop.buy()
    for _ in range(5):
        paid = await shop.studio.apply_payment(shop.paid(purchase))
    assert paid.status is PurchaseStatus.PAID and paid.charge_id == "charge-1"
    assert await shop.studio.balance("alice") == INITIAL + 100
    history = await shop.studio.credit_history("alice")
    assert [(e.kind, e.amount, e.balance_after, e.purchase_id) for e in history.items] == [
        (HistoryKind.PURCHASE, 100, 110, purchase.id), (HistoryKind.INITIAL_GRANT, 10, 10, None),
    ]
    assert await shop.studio.audit() == []


async def test_concurrent_deliveries_credit_once(shop) -> None:
    purchase = await shop.buy()
    await asyncio.gather(*(shop.studio.apply_payment(shop.paid(purchase)) for _ in range(8)))
    assert await shop.studio.balance("alice") == INITIAL + 100


async def test_a_mismatched_amount_credits_nothing_and_is_held_for_review(shop) -> None:
    purchase = await shop.buy()
    held = await shop.studio.apply_payment(shop.paid(purchase, amount=1))
    assert held.status is PurchaseStatus.FAILED and "paid 1 XTR" in held.review_reason
    wrong_currency = await shop.buy(provider=ST)
    held = await shop.studio.apply_payment(shop.paid(wrong_currency, charge="c2", currency="eur"))
    assert held.review_reason is not None and held.credited == 0
    assert await shop.studio.balance("alice") == INITIAL
    assert await shop.studio.audit() == []


async def test_a_second_charge_for_a_paid_purchase_credits_nothing(shop) -> None:
    purchase = await shop.buy()
    await shop.studio.apply_payment(shop.paid(purchase, charge="c1"))
    again = await shop.studio.apply_payment(shop.paid(purchase, charge="c2"))
    assert again.status is PurchaseStatus.PAID and again.charge_id == "c1" and again.review_reason
    assert await shop.studio.balance("alice") == INITIAL + 100


async def test_a_refund_deducts_once_and_never_below_zero(shop) -> None:
    purchase = await shop.buy()
    await shop.studio.apply_payment(shop.paid(purchase))
    await shop.studio.adjust_credits("alice", -(INITIAL + 70), "spent")  # 30 left of 100
    news = PaymentNews(NewsKind.REFUNDED, TG, purchase_id=purchase.id, charge_id="charge-1")
    for _ in range(3):
        refunded = await shop.studio.apply_payment(news)
    assert refunded.status is PurchaseStatus.REFUNDED
    assert (refunded.deducted, refunded.shortfall) == (30, 70)
    assert await shop.studio.balance("alice") == 0
    kinds = [e.kind for e in (await shop.studio.credit_history("alice")).items]
    assert kinds[0] is HistoryKind.PURCHASE_REFUND
    assert await shop.studio.audit() == []


async def test_a_stripe_refund_finds_the_purchase_by_its_payment(shop) -> None:
    purchase = await shop.buy(provider=ST)
    await shop.studio.apply_payment(shop.paid(purchase, charge=purchase.checkout_ref, payment_ref="pi_1"))
    refunded = await shop.studio.apply_payment(PaymentNews(NewsKind.REFUNDED, ST, payment_ref="pi_1"))
    assert refunded.status is PurchaseStatus.REFUNDED and refunded.deducted == 100
    assert await shop.studio.balance("alice") == INITIAL


async def test_an_operator_refund_goes_to_the_provider_first(shop) -> None:
    purchase = await shop.buy()
    with pytest.raises(Conflict):
        await shop.studio.refund_purchase(purchase.id)  # nothing paid yet
    await shop.studio.apply_payment(shop.paid(purchase))
    shop.telegram.fail_next = "refund"
    with pytest.raises(Exception, match="refund refused"):
        await shop.studio.refund_purchase(purchase.id)
    assert await shop.studio.balance("alice") == INITIAL + 100  # the provider did not confirm
    refunded = await shop.studio.refund_purchase(purchase.id)
    assert refunded.status is PurchaseStatus.REFUNDED and shop.telegram.refunds == [purchase.id]
    assert await shop.studio.balance("alice") == INITIAL
    assert (await shop.studio.refund_purchase(purchase.id)).status is PurchaseStatus.REFUNDED
    assert shop.telegram.refunds == [purchase.id]


async def test_expiry_ends_a_pending_purchase_only(shop) -> None:
    purchase = await shop.buy(provider=ST)
    expired = await shop.studio.apply_payment(PaymentNews(NewsKind.EXPIRED, ST, purchase_id=purchase.id))
    assert expired.status is PurchaseStatus.EXPIRED
    assert await shop.studio.pre_checkout_refusal(purchase.id, "usd", 199) is not None
    paid = await shop.buy(provider=ST)
    await shop.studio.apply_payment(shop.paid(paid, charge="cs"))
    again = await shop.studio.apply_payment(PaymentNews(NewsKind.EXPIRED, ST, purchase_id=paid.id))
    assert again.status is PurchaseStatus.PAID


async def test_pre_checkout_answers(shop) -> None:
    purchase = await shop.buy()
    assert await shop.studio.pre_checkout_refusal(purchase.id, "XTR", 50) is None
    assert "price" in await shop.studio.pre_checkout_refusal(purchase.id, "XTR", 49)
    assert "unknown" in await shop.studio.pre_checkout_refusal("no-such-purchase", "XTR", 50)


async def test_another_users_purchase_is_not_found(shop) -> None:
    purchase = await shop.buy()
    await shop.studio.ensure_user("bob")
    with pytest.raises(NotFound):
        await shop.studio.purchase("bob", purchase.id)


async def test_news_for_unknown_purchases_or_the_other_provider_changes_nothing(shop) -> None:
    purchase = await shop.buy()
    assert await shop.studio.apply_payment(PaymentNews(NewsKind.PAID, TG, purchase_id="x", charge_id="c")) is None
    assert await shop.studio.apply_payment(shop.paid(purchase).__class__(
        NewsKind.PAID, ST, purchase_id=purchase.id, charge_id="c", currency="XTR", amount=50)) is None
    assert await shop.studio.balance("alice") == INITIAL


async def test_the_admin_list_filters_by_status_newest_first(shop) -> None:
    first = await shop.buy()
    shop.clock.advance(1)
    second = await shop.buy()
    await shop.studio.apply_payment(shop.paid(second))
    assert [p.id for p in await shop.studio.purchases(PurchaseQuery())] == [second.id, first.id]
    assert [p.id for p in await shop.studio.purchases(PurchaseQuery(status=PurchaseStatus.PAID))] == [second.id]


async def test_the_audit_names_a_balance_that_is_not_its_ledger(shop) -> None:
    purchase = await shop.buy()
    await shop.studio.apply_payment(shop.paid(purchase))
    async with shop.uow() as uow:  # behind the core's back
        account = await uow.ledger.account_for_update("alice")
        await uow.ledger.save_account(account.__class__("alice", account.balance + 5))
        await uow.commit()
    [problem] = await shop.studio.audit()
    assert "balance 115, ledger sum 110" in problem


async def test_a_payment_tells_once_what_it_credited(shop) -> None:
    from base_core.events import CreditsPurchased, PurchaseEvent, PurchasePaid, PurchaseRefunded, PurchaseStarted

    seen = []
    shop.studio.context.dispatcher.subscribe(seen.append, PurchaseEvent, CreditsPurchased)
    purchase = await shop.buy()
    for _ in range(3):
        await shop.studio.apply_payment(shop.paid(purchase))
    await shop.studio.refund_purchase(purchase.id)
    assert [type(e) for e in seen] == [PurchaseStarted, CreditsPurchased, PurchasePaid, PurchaseRefunded]
    credited = seen[1]
    assert (credited.amount, credited.purchase_id, credited.provider, credited.pack_id) == (
        100, purchase.id, "telegram", "starter")


async def test_a_refund_still_under_way_takes_the_credits_back_when_the_webhook_says_so(shop) -> None:
    purchase = await shop.buy(provider=ST)
    await shop.studio.apply_payment(shop.paid(purchase, charge=purchase.checkout_ref, payment_ref="pi_9"))
    shop.stripe.confirm_refunds = False
    assert (await shop.studio.refund_purchase(purchase.id)).status is PurchaseStatus.PAID
    assert await shop.studio.balance("alice") == INITIAL + 100
    refunded = await shop.studio.apply_payment(PaymentNews(NewsKind.REFUNDED, ST, payment_ref="pi_9"))
    assert refunded.status is PurchaseStatus.REFUNDED and await shop.studio.balance("alice") == INITIAL


async def _post_charge_behind_the_core(shop, purchase, charge: str, amount: int) -> None:
    """The charge's credit entry already in the ledger, its purchase still pending."""
    from base_core.ledger import purchase_entry_key

    async with shop.uow() as uow:
        account = await uow.ledger.account_for_update("alice")
        account, entry = account.credit_purchase(
            amount, purchase_entry_key(purchase.provider.value, charge), shop.clock.now(),
            purchase_id=purchase.id, provider=purchase.provider.value, pack_id=purchase.pack_id,
        )
        await uow.ledger.post(account, entry)
        await uow.commit()


async def test_a_charge_already_in_the_ledger_credits_nothing_again(shop) -> None:
    from base_core.events import CreditsPurchased

    purchase = await shop.buy()
    await _post_charge_behind_the_core(shop, purchase, "charge-1", 100)
    credited = []
    shop.studio.context.dispatcher.subscribe(credited.append, CreditsPurchased)
    for _ in range(2):
        paid = await shop.studio.apply_payment(shop.paid(purchase))
    assert paid.status is PurchaseStatus.PAID and paid.charge_id == "charge-1"
    assert await shop.studio.balance("alice") == INITIAL + 100
    assert credited == []
    assert await shop.studio.audit() == []


async def test_a_charge_key_taken_by_another_credit_is_a_conflict_that_changes_nothing(shop) -> None:
    from base_core.errors import IdempotencyConflict

    purchase = await shop.buy()
    await _post_charge_behind_the_core(shop, purchase, "charge-1", 7)
    with pytest.raises(IdempotencyConflict):
        await shop.studio.apply_payment(shop.paid(purchase))
    assert await shop.studio.balance("alice") == INITIAL + 7
    assert (await shop.studio.purchase("alice", purchase.id)).status is PurchaseStatus.PENDING


async def test_a_payment_reads_no_ledger_entry_its_insert_is_the_replay_check(shop, monkeypatch) -> None:
    """One statement less per payment: the credit entry's insert reports whether it was
    new (ON CONFLICT DO NOTHING on SQL) instead of a read before it."""
    async with shop.uow() as uow:
        repository = type(uow.ledger)
    reads = []
    original = repository.entry

    async def counted(self, key):
        reads.append(key)
        return await original(self, key)

    monkeypatch.setattr(repository, "entry", counted)
    purchase = await shop.buy()
    paid = await shop.studio.apply_payment(shop.paid(purchase))
    assert paid.status is PurchaseStatus.PAID and await shop.studio.balance("alice") == INITIAL + 100
    assert reads == []
