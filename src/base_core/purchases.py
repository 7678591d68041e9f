"""A purchase of a credit pack, paid through Telegram Stars or Stripe Checkout.

    pending ──▶ paid ──▶ refunded
       │
       ├──▶ expired     the checkout ran out (Stripe) before anyone paid
       └──▶ failed      the checkout could not be made, the payment failed, or money
                        arrived that does not match the pack (held for review)
    failed (with a charge) ──▶ refunded     an operator gave the money back

The price is the pack's at the time of purchase, copied onto the purchase: a payment is
compared against it, and one for another amount or currency credits nothing and is marked
for review. A purchase is paid once: the provider's charge id is recorded, and news of the
same charge again is "already done". A refund takes back what the pack credited, but
never more than the balance holds; what could not be taken back is the shortfall.

Frozen like the other aggregates: every change returns the new purchase, which has recorded
its event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import attrs

from base_core.errors import Conflict, InvalidRequest
from base_core.events import (
    PurchaseEnded,
    PurchaseNeedsReview,
    PurchasePaid,
    PurchaseRefunded,
    PurchaseStarted,
    Recorded,
    RecordsEvents,
    named,
    with_recorded,
)
from base_core.frozen import replace
from base_core.packs import STARS, CreditPack


class Provider(StrEnum):
    TELEGRAM = "telegram"
    STRIPE = "stripe"


class PurchaseStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    FAILED = "failed"


TRANSITIONS: dict[PurchaseStatus, frozenset[PurchaseStatus]] = {
    PurchaseStatus.PENDING: frozenset({PurchaseStatus.PAID, PurchaseStatus.EXPIRED, PurchaseStatus.FAILED}),
    PurchaseStatus.PAID: frozenset({PurchaseStatus.REFUNDED}),
    PurchaseStatus.FAILED: frozenset({PurchaseStatus.REFUNDED}),  # only one holding a charge
    PurchaseStatus.REFUNDED: frozenset(),
    PurchaseStatus.EXPIRED: frozenset(),
}


def price_for(pack: CreditPack, provider: Provider) -> tuple[int, str] | None:
    """The pack's price through `provider` (amount, currency), or None when it has none."""
    if provider is Provider.TELEGRAM:
        return None if pack.stars is None else (pack.stars, STARS)
    if pack.amount is None or pack.currency is None:
        return None
    return pack.amount, pack.currency


@attrs.frozen(slots=False)
class Purchase(RecordsEvents):
    id: str
    user_id: str
    pack_id: str
    provider: Provider
    credits: int
    amount: int
    currency: str
    status: PurchaseStatus
    created_at: datetime
    updated_at: datetime
    checkout_ref: str | None = None  # Stripe's Checkout Session id
    checkout_url: str | None = None  # the invoice link or the Checkout page
    charge_id: str | None = None  # telegram_payment_charge_id, or the Session id: the key
    payment_ref: str | None = None  # Stripe's PaymentIntent; Telegram's provider charge id
    payer_ref: str | None = None  # the Telegram user who paid (refundStarPayment needs it)
    paid_at: datetime | None = None
    ended_at: datetime | None = None
    credited: int = 0
    deducted: int = 0
    shortfall: int = 0
    review_reason: str | None = None

    @classmethod
    def start(
        cls, purchase_id: str, user_id: str, pack: CreditPack, provider: Provider, now: datetime
    ) -> Purchase:
        price = price_for(pack, provider)
        if price is None:
            raise InvalidRequest("provider", f"pack {pack.id!r} is not sold through {provider.value}")
        amount, currency = price
        purchase = cls(
            id=purchase_id, user_id=user_id, pack_id=pack.id, provider=provider, credits=pack.credits,
            amount=amount, currency=currency, status=PurchaseStatus.PENDING, created_at=now, updated_at=now,
        )
        event = named(
            PurchaseStarted, at=now, purchase_id=purchase_id, user_id=user_id, provider=provider.value,
            pack_id=pack.id, credits=pack.credits, amount=amount, currency=currency,
        )
        return with_recorded(purchase, (event,))

    # What a payment may do

    def matches(self, currency: str | None, amount: int | None) -> bool:
        return (currency or "").lower() == self.currency.lower() and amount == self.amount

    def refusal(self, currency: str | None, amount: int | None) -> str | None:
        """Why this purchase may not be paid now with this price (None: it may)."""
        if self.status is not PurchaseStatus.PENDING:
            return f"This purchase is {self.status.value} and can no longer be paid."
        if not self.matches(currency, amount):
            return "The price does not match the credit pack; please start the purchase again."
        return None

    def is_same_charge(self, charge_id: str) -> bool:
        return self.charge_id is not None and self.charge_id == charge_id

    @property
    def is_refundable(self) -> bool:
        return self.status is PurchaseStatus.PAID or (
            self.status is PurchaseStatus.FAILED and self.charge_id is not None
        )

    # Transitions

    def checkout_opened(self, url: str, ref: str | None, now: datetime) -> Purchase:
        return replace(self, checkout_url=url, checkout_ref=ref, updated_at=now)

    def paid(
        self,
        charge_id: str,
        now: datetime,
        *,
        payment_ref: str | None = None,
        payer_ref: str | None = None,
    ) -> Purchase:
        """Pending → paid, crediting the pack (the caller has checked `refusal`)."""
        self._check(PurchaseStatus.PAID)
        changed = replace(
            self, status=PurchaseStatus.PAID, charge_id=charge_id, payment_ref=payment_ref,
            payer_ref=payer_ref, paid_at=now, updated_at=now, credited=self.credits,
        )
        return self._with(changed, named(
            PurchasePaid, at=now, pack_id=self.pack_id, credits=self.credits, amount=self.amount,
            currency=self.currency, **self._ids(),
        ))

    def held_for_review(
        self,
        reason: str,
        now: datetime,
        *,
        charge_id: str | None = None,
        payment_ref: str | None = None,
        payer_ref: str | None = None,
    ) -> Purchase:
        """Money arrived that credits nothing: a pending purchase fails with the charge
        recorded (so it can be refunded); another state keeps its status and its charge."""
        if self.status is PurchaseStatus.PENDING:
            changed = replace(
                self, status=PurchaseStatus.FAILED, charge_id=charge_id, payment_ref=payment_ref,
                payer_ref=payer_ref, ended_at=now, updated_at=now, review_reason=reason,
            )
        else:
            changed = replace(self, review_reason=reason, updated_at=now)
        return self._with(changed, named(PurchaseNeedsReview, at=now, reason=reason, **self._ids()))

    def refunded(self, deducted: int, now: datetime) -> Purchase:
        """Paid (or failed with a charge) → refunded; `deducted` of the credited pack was
        taken back, the rest is the shortfall."""
        self._check(PurchaseStatus.REFUNDED)
        if not self.is_refundable:
            raise Conflict(f"a {self.status.value} purchase without a payment has nothing to refund")
        if not 0 <= deducted <= self.credited:
            raise InvalidRequest("deducted", f"must be between 0 and {self.credited}")
        changed = replace(
            self, status=PurchaseStatus.REFUNDED, deducted=deducted,
            shortfall=self.credited - deducted, ended_at=now, updated_at=now,
        )
        return self._with(changed, named(
            PurchaseRefunded, at=now, deducted=deducted, shortfall=changed.shortfall, **self._ids(),
        ))

    def ended(self, status: PurchaseStatus, reason: str, now: datetime) -> Purchase | None:
        """Pending → expired or failed; None (stale news) from any other state."""
        if status not in (PurchaseStatus.EXPIRED, PurchaseStatus.FAILED):
            raise ValueError(f"{status.value} is not an ending without payment")
        if self.status is not PurchaseStatus.PENDING:
            return None
        changed = replace(self, status=status, ended_at=now, updated_at=now)
        return self._with(
            changed, named(PurchaseEnded, at=now, status=status.value, reason=reason, **self._ids())
        )

    def _check(self, target: PurchaseStatus) -> None:
        if target not in TRANSITIONS[self.status]:
            raise Conflict(f"cannot make a {self.status.value} purchase {target.value}")

    def _ids(self) -> dict[str, str]:
        return {"purchase_id": self.id, "user_id": self.user_id, "provider": self.provider.value}

    @staticmethod
    def _with(changed: Purchase, event: Recorded) -> Purchase:
        return with_recorded(changed, changed.recorded + (event,))


@attrs.frozen
class PurchaseQuery:
    status: PurchaseStatus | None = None
    user_id: str | None = None
    limit: int = 50
    offset: int = 0


__all__ = ["TRANSITIONS", "Provider", "Purchase", "PurchaseQuery", "PurchaseStatus", "price_for"]
