"""The public JSON of credit packs, purchases and the credit history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from base_core.packs import CreditPack
from base_core.purchases import Provider, Purchase
from base_core.usecases.purchases import HistoryPage


class PackOut(msgspec.Struct):
    id: str
    title: str
    credits: int
    stars: int | None  # null when Telegram Stars are not configured
    amount: int | None  # minor units; null when Stripe is not configured
    currency: str | None


class PackList(msgspec.Struct):
    packs: list[PackOut]


class PurchaseIn(msgspec.Struct):
    pack_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    provider: Literal["telegram", "stripe"]


class PurchaseStarted(msgspec.Struct, omit_defaults=True):
    purchase_id: str
    provider: str
    status: str
    invoice_link: str | None = None  # Telegram: open with Telegram.WebApp.openInvoice
    checkout_url: str | None = None  # Stripe: send the browser there


class PurchaseOut(msgspec.Struct):
    id: str
    user_id: str
    pack_id: str
    provider: str
    status: str
    credits: int
    amount: int
    currency: str
    created_at: datetime
    paid_at: datetime | None
    ended_at: datetime | None
    credited: int
    refunded_credits: int
    shortfall: int  # refunded credits the user had already spent
    needs_review: bool
    review_reason: str | None


class PurchaseList(msgspec.Struct):
    purchases: list[PurchaseOut]
    page: int
    limit: int


class HistoryEntryOut(msgspec.Struct):
    kind: str
    amount: int
    balance_after: int
    generation_id: str | None
    purchase_id: str | None
    created_at: datetime


class HistoryOut(msgspec.Struct):
    entries: list[HistoryEntryOut]
    total: int
    page: int
    limit: int
    total_pages: int = msgspec.field(name="totalPages")


def pack_out(pack: CreditPack, *, stars: bool, stripe: bool) -> PackOut:
    return PackOut(
        id=pack.id, title=pack.title, credits=pack.credits,
        stars=pack.stars if stars else None,
        amount=pack.amount if stripe else None,
        currency=pack.currency if stripe and pack.amount is not None else None,
    )


def purchase_started(purchase: Purchase) -> PurchaseStarted:
    link = purchase.checkout_url
    telegram = purchase.provider is Provider.TELEGRAM
    return PurchaseStarted(
        purchase_id=purchase.id, provider=purchase.provider.value, status=purchase.status.value,
        invoice_link=link if telegram else None, checkout_url=None if telegram else link,
    )


def purchase_out(purchase: Purchase) -> PurchaseOut:
    return PurchaseOut(
        id=purchase.id, user_id=purchase.user_id, pack_id=purchase.pack_id,
        provider=purchase.provider.value, status=purchase.status.value, credits=purchase.credits,
        amount=purchase.amount, currency=purchase.currency, created_at=purchase.created_at,
        paid_at=purchase.paid_at, ended_at=purchase.ended_at, credited=purchase.credited,
        refunded_credits=purchase.deducted, shortfall=purchase.shortfall,
        needs_review=purchase.review_reason is not None, review_reason=purchase.review_reason,
    )


def history_out(page: HistoryPage) -> HistoryOut:
    return HistoryOut(
        entries=[
            HistoryEntryOut(
                kind=e.kind.value, amount=e.amount, balance_after=e.balance_after,
                generation_id=e.generation_id, purchase_id=e.purchase_id, created_at=e.at,
            )
            for e in page.items
        ],
        total=page.total, page=page.page, limit=page.limit, total_pages=page.total_pages,
    )
