"""Buying credit packs: start a checkout, apply the providers' news, refund, audit.

Every change of a purchase and its ledger effect happen in one unit of work, after the
purchase row was locked and then the account (one lock order), so two deliveries of the
same payment — retries, or two processes at once — serialize and the second finds the
purchase paid by the same charge: already done. The credit entry's key is the provider's
charge id, unique in the ledger, a second line that stops a double credit even if the
purchase were not locked. Network calls (the checkout, a refund) happen outside any
unit of work.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from base_core.errors import Conflict, InvalidRequest, NotFound
from base_core.ledger import (
    PURCHASE_REASON,
    EntryKind,
    HistoryKind,
    LedgerEntry,
    check_replay,
    generation_of_hold,
    history_kind,
    purchase_entry_key,
    purchase_refund_key,
)
from base_core.ports import PaymentGateway, UnitOfWork
from base_core.purchases import Provider, Purchase, PurchaseQuery, PurchaseStatus
from base_core.text import is_line
from base_core.usecases.context import Context

MAX_HISTORY_LIMIT = 100
MAX_HISTORY_PAGE = 10_000
MAX_REF_LENGTH = 256


class NewsKind:
    PAID = "paid"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    FAILED = "failed"


@attrs.frozen
class PaymentNews:
    """What a provider's webhook said about a purchase, in the core's words.

    `purchase_id` is what we gave the provider (Telegram's invoice payload, Stripe's
    client_reference_id); a refund from Stripe names only the `payment_ref` it was paid by.
    """

    kind: str
    provider: Provider
    purchase_id: str | None = None
    charge_id: str | None = None
    currency: str | None = None
    amount: int | None = None
    payment_ref: str | None = None
    payer_ref: str | None = None
    reason: str = ""


@attrs.frozen
class HistoryEntry:
    kind: HistoryKind
    amount: int
    balance_after: int
    generation_id: str | None
    purchase_id: str | None
    at: datetime


@attrs.frozen
class HistoryPage:
    items: list[HistoryEntry]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return (self.total + self.limit - 1) // self.limit


def gateway(ctx: Context, provider: Provider) -> PaymentGateway:
    found = ctx.payments.get(provider)
    if found is None:
        raise InvalidRequest("provider", f"{provider.value} payments are not configured")
    return found


async def start_purchase(ctx: Context, user_id: str, pack_id: str, provider: Provider) -> Purchase:
    """A pending purchase with its checkout (invoice link or Checkout page)."""
    pack = ctx.packs.get(pack_id)
    payments = gateway(ctx, provider)
    purchase = Purchase.start(ctx.ids.new_id(), user_id, pack, provider, ctx.clock.now())
    async with ctx.work() as uow:
        await uow.purchases.add(purchase)
        await uow.commit()
    try:
        checkout = await payments.checkout(purchase, pack)
    except Exception:
        await _end(ctx, purchase.id, PurchaseStatus.FAILED, "the checkout could not be made")
        raise
    async with ctx.work() as uow:
        current = await _locked(uow, purchase.id)
        opened = current.checkout_opened(checkout.url, checkout.ref, ctx.clock.now())
        await uow.purchases.save(opened)
        await uow.commit()
        return opened


async def pre_checkout_refusal(
    ctx: Context, purchase_id: str, currency: str | None, amount: int | None
) -> str | None:
    """Telegram's last question before taking the Stars: None to go ahead, else why not."""
    async with ctx.work() as uow:
        purchase = await uow.purchases.get(purchase_id) if _is_ref(purchase_id) else None
    if purchase is None:
        return "This purchase is unknown; please start it again."
    return purchase.refusal(currency, amount)


async def apply_news(ctx: Context, news: PaymentNews) -> Purchase | None:
    """Apply a provider's news once; None when it names no purchase of ours."""
    if news.kind == NewsKind.PAID:
        return await _pay(ctx, news)
    if news.kind == NewsKind.REFUNDED:
        return await _refund(ctx, news)
    status = PurchaseStatus.EXPIRED if news.kind == NewsKind.EXPIRED else PurchaseStatus.FAILED
    if news.purchase_id is None:
        return None
    return await _end(ctx, news.purchase_id, status, news.reason or news.kind)


async def _pay(ctx: Context, news: PaymentNews) -> Purchase | None:
    if news.charge_id is None or news.purchase_id is None or not _is_ref(news.purchase_id):
        return None
    charge_id = news.charge_id
    async with ctx.work() as uow:
        purchase = await uow.purchases.get_for_update(news.purchase_id)
        if purchase is None or purchase.provider is not news.provider:
            return None
        if purchase.is_same_charge(charge_id):
            return purchase  # a repeated delivery: already done
        now = ctx.clock.now()
        refusal = purchase.refusal(news.currency, news.amount)
        if refusal is not None:
            reason = (
                f"paid {news.amount} {news.currency}, the pack costs {purchase.amount} {purchase.currency}"
                if purchase.status is PurchaseStatus.PENDING
                else f"charge {charge_id[:64]} arrived for a {purchase.status.value} purchase"
            )
            reviewed = purchase.held_for_review(
                reason, now, charge_id=charge_id, payment_ref=news.payment_ref, payer_ref=news.payer_ref
            )
            await uow.purchases.save(reviewed)
            await uow.commit()
            return reviewed
        account = await uow.ledger.account_for_update(purchase.user_id)
        if account is None:
            raise NotFound("user", purchase.user_id)
        key = purchase_entry_key(purchase.provider.value, charge_id)
        credited, entry = account.credit_purchase(
            purchase.credits, key, now, purchase_id=purchase.id,
            provider=purchase.provider.value, pack_id=purchase.pack_id,
        )
        # The entry's unique key is the replay check: inserted, or already posted (then it
        # must be this same credit, else IdempotencyConflict) and nothing is credited.
        if await uow.ledger.append_new(entry):
            await uow.ledger.save_account(credited)
        else:
            check_replay(
                await uow.ledger.entry(key), user_id=purchase.user_id, kind=EntryKind.GRANT,
                amount=purchase.credits, reason=PURCHASE_REASON,
            )
        paid = purchase.paid(charge_id, now, payment_ref=news.payment_ref, payer_ref=news.payer_ref)
        await uow.purchases.save(paid)
        await uow.commit()
        return paid


async def _refund(ctx: Context, news: PaymentNews) -> Purchase | None:
    async with ctx.work() as uow:
        purchase = await _find_for_update(uow, news)
        if purchase is None:
            return None
        if purchase.status is PurchaseStatus.REFUNDED or not purchase.is_refundable:
            return purchase  # already refunded, or nothing was ever paid
        if news.charge_id is not None and purchase.charge_id not in (None, news.charge_id):
            return purchase  # a refund of another charge than the one that paid it
        now = ctx.clock.now()
        deducted = 0
        if purchase.credited:
            account = await uow.ledger.account_for_update(purchase.user_id)
            if account is None:
                raise NotFound("user", purchase.user_id)
            account, entry, deducted = account.take_back_purchase(
                purchase.credited, purchase_refund_key(purchase.id), now, purchase_id=purchase.id
            )
            if entry is not None:
                await uow.ledger.post(account, entry)
        refunded = purchase.refunded(deducted, now)
        await uow.purchases.save(refunded)
        await uow.commit()
        return refunded


async def _locked(uow: UnitOfWork, purchase_id: str) -> Purchase:
    purchase = await uow.purchases.get_for_update(purchase_id)
    if purchase is None:
        raise NotFound("purchase", purchase_id[:64])
    return purchase


async def _find_for_update(uow: UnitOfWork, news: PaymentNews) -> Purchase | None:
    purchase = None
    if news.purchase_id is not None and _is_ref(news.purchase_id):
        purchase = await uow.purchases.get_for_update(news.purchase_id)
    if purchase is None and news.payment_ref is not None and _is_ref(news.payment_ref):
        purchase = await uow.purchases.get_by_payment_for_update(news.provider, news.payment_ref)
    if purchase is None or purchase.provider is not news.provider:
        return None
    return purchase


async def _end(ctx: Context, purchase_id: str, status: PurchaseStatus, reason: str) -> Purchase | None:
    if not _is_ref(purchase_id):
        return None
    async with ctx.work() as uow:
        purchase = await uow.purchases.get_for_update(purchase_id)
        if purchase is None:
            return None
        ended = purchase.ended(status, reason, ctx.clock.now())
        if ended is None:
            return purchase
        await uow.purchases.save(ended)
        await uow.commit()
        return ended


async def refund_purchase(ctx: Context, purchase_id: str) -> Purchase:
    """An operator's refund: at the provider first, then the credits once it confirmed (at
    once, or later by its webhook when the refund is still under way)."""
    async with ctx.work() as uow:
        purchase = await uow.purchases.get(purchase_id) if _is_ref(purchase_id) else None
    if purchase is None:
        raise NotFound("purchase", purchase_id[:64])
    if purchase.status is PurchaseStatus.REFUNDED:
        return purchase
    if not purchase.is_refundable:
        raise Conflict(f"a {purchase.status.value} purchase has nothing to refund")
    if not await gateway(ctx, purchase.provider).refund(purchase):
        return purchase  # under way: the provider's webhook tells when it is done
    news = PaymentNews(
        NewsKind.REFUNDED, purchase.provider, purchase_id=purchase.id, charge_id=purchase.charge_id
    )
    refunded = await _refund(ctx, news)
    return refunded if refunded is not None else purchase


async def get_purchase(ctx: Context, user_id: str, purchase_id: str) -> Purchase:
    async with ctx.work() as uow:
        purchase = await uow.purchases.get(purchase_id) if _is_ref(purchase_id) else None
    if purchase is None or purchase.user_id != user_id:
        raise NotFound("purchase", purchase_id[:64])
    return purchase


async def find_purchases(ctx: Context, query: PurchaseQuery) -> list[Purchase]:
    async with ctx.work() as uow:
        return await uow.purchases.find(query)


async def credit_history(ctx: Context, user_id: str, page: int, limit: int) -> HistoryPage:
    """The user's ledger entries, newest first, each with the balance after it."""
    if not 1 <= limit <= MAX_HISTORY_LIMIT or not 1 <= page <= MAX_HISTORY_PAGE:
        raise InvalidRequest("page", f"page from 1 to {MAX_HISTORY_PAGE}, limit from 1 to {MAX_HISTORY_LIMIT}")
    async with ctx.work() as uow:
        entries = await uow.ledger.entries(user_id)
    items: list[HistoryEntry] = []
    balance = 0
    for entry in entries:
        balance += entry.amount
        items.append(_history_entry(entry, balance))
    items.reverse()
    start = (page - 1) * limit
    return HistoryPage(items=items[start : start + limit], total=len(items), page=page, limit=limit)


def _history_entry(entry: LedgerEntry, balance: int) -> HistoryEntry:
    return HistoryEntry(
        kind=history_kind(entry),
        amount=entry.amount,
        balance_after=balance,
        generation_id=generation_of_hold(entry.hold_key) if entry.hold_key else None,
        purchase_id=entry.purchase_id,
        at=entry.created_at,
    )


async def audit(ctx: Context, user_ids: list[str] | None = None) -> list[str]:
    """Differences in the books: balances that are not their ledger's sum, paid purchases
    that did not credit exactly their pack. Empty when the books agree."""
    problems: list[str] = []
    async with ctx.work() as uow:
        purchases = await _all_purchases(uow)
        users = set(user_ids or ()) | {p.user_id for p in purchases}
        if user_ids is None:
            users |= await _all_user_ids(uow)
        for user_id in sorted(users):
            account = await uow.ledger.account(user_id)
            entries = await uow.ledger.entries(user_id)
            total = sum(e.amount for e in entries)
            if account is not None and account.balance != total:
                problems.append(f"user {user_id}: balance {account.balance}, ledger sum {total}")
            credited: dict[str, int] = {}
            for e in entries:
                if e.purchase_id is not None and e.amount > 0:
                    credited[e.purchase_id] = credited.get(e.purchase_id, 0) + e.amount
            for purchase in (p for p in purchases if p.user_id == user_id):
                got = credited.get(purchase.id, 0)
                should = _should_have_credited(purchase)
                if got != should:
                    problems.append(
                        f"purchase {purchase.id} ({purchase.status.value}): credited {got}, expected {should}"
                    )
    return problems


async def _all_purchases(uow: UnitOfWork) -> list[Purchase]:
    found: list[Purchase] = []
    offset = 0
    while True:
        batch = await uow.purchases.find(PurchaseQuery(limit=500, offset=offset))
        found.extend(batch)
        if len(batch) < 500:
            return found
        offset += 500


async def _all_user_ids(uow: UnitOfWork) -> set[str]:
    return set(await uow.ledger.account_ids())


def _should_have_credited(purchase: Purchase) -> int:
    if purchase.status is PurchaseStatus.PAID:
        return purchase.credits
    if purchase.status is PurchaseStatus.REFUNDED:
        return purchase.credited  # the pack, or nothing for money held for review
    return 0


def _is_ref(value: str) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_REF_LENGTH and is_line(value)


__all__ = [
    "HistoryEntry",
    "HistoryPage",
    "NewsKind",
    "PaymentNews",
    "apply_news",
    "audit",
    "credit_history",
    "find_purchases",
    "get_purchase",
    "pre_checkout_refusal",
    "refund_purchase",
    "start_purchase",
]
