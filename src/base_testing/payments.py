"""A payment provider driven by hand: checkouts and refunds recorded, failures on demand."""

from __future__ import annotations

from base_core.errors import PaymentProviderError
from base_core.packs import CreditPack
from base_core.ports import Checkout
from base_core.purchases import Provider, Purchase


class FakePayments:
    def __init__(self, provider: Provider = Provider.TELEGRAM) -> None:
        self._provider = provider
        self.checkouts: list[str] = []
        self.refunds: list[str] = []
        self.fail_next: str | None = None  # "checkout" or "refund"
        self.confirm_refunds = True  # False: refunds are under way, the webhook tells later

    @property
    def provider(self) -> Provider:
        return self._provider

    async def checkout(self, purchase: Purchase, pack: CreditPack) -> Checkout:
        self._maybe_fail("checkout")
        self.checkouts.append(purchase.id)
        ref = f"cs_{purchase.id}" if self._provider is Provider.STRIPE else None
        return Checkout(url=f"https://pay.example/{self._provider.value}/{purchase.id}", ref=ref)

    async def refund(self, purchase: Purchase) -> bool:
        self._maybe_fail("refund")
        self.refunds.append(purchase.id)
        return self.confirm_refunds

    def _maybe_fail(self, what: str) -> None:
        if self.fail_next == what:
            self.fail_next = None
            raise PaymentProviderError(self._provider.value, f"{what} refused")
