"""Stripe Checkout through the official `stripe` library (async, over httpx).

A purchase is a Checkout Session in `payment` mode for the pack's price, carrying the
purchase id as `client_reference_id` and in `metadata`. Webhook events are verified with
the library (`WebhookSignature.verify_header`, 5-minute tolerance) and read into the core's news: a paid
session pays (key: the session id), an expired or failed one ends the purchase, a refunded
charge refunds the purchase its PaymentIntent paid.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import stripe
from stripe import SignatureVerificationError, WebhookSignature

from base_core.errors import InvalidRequest, PaymentProviderError, Unauthenticated
from base_core.packs import CreditPack
from base_core.ports import Checkout
from base_core.purchases import Provider, Purchase
from base_core.usecases.purchases import NewsKind, PaymentNews

DEFAULT_API_URL = "https://api.stripe.com"
WEBHOOK_PATH = "/api/webhook/stripe"
TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "stripe-signature"


@attrs.frozen
class StripeEvent:
    """A verified event: its id and type, and what it means for a purchase (or None)."""

    id: str
    type: str
    news: PaymentNews | None


class StripeCheckout:
    def __init__(
        self, secret_key: str, webhook_secret: str | None, public_url: str,
        api_url: str = DEFAULT_API_URL, *, timeout: float = 20.0,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._public_url = public_url.rstrip("/")
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_url.rstrip("/")},
            http_client=self._http,
            max_network_retries=2,
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def mode(self) -> str:
        """A cheap authenticated call (the balance): "live" or "test", for `base check`."""
        try:
            balance = await self._client.v1.balance.retrieve_async()
        except stripe.StripeError as error:
            raise PaymentProviderError("stripe", _described(error)) from None
        return "live" if balance.livemode else "test"

    @property
    def provider(self) -> Provider:
        return Provider.STRIPE

    async def checkout(self, purchase: Purchase, pack: CreditPack) -> Checkout:
        params: Any = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": purchase.currency,
                    "unit_amount": purchase.amount,
                    "product_data": {"name": pack.title},
                },
            }],
            "client_reference_id": purchase.id,
            "metadata": {"purchase_id": purchase.id, "pack_id": pack.id},
            # Back to the studio, which waits for the purchase the address names.
            "success_url": f"{self._public_url}/?purchase_id={purchase.id}&status=success",
            "cancel_url": f"{self._public_url}/?purchase_id={purchase.id}&status=cancel",
        }
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params, {"idempotency_key": f"checkout-{purchase.id}"}
            )
        except stripe.StripeError as error:
            raise PaymentProviderError("stripe", _described(error)) from None
        if not session.url:
            raise PaymentProviderError("stripe", "the Checkout Session has no url")
        return Checkout(url=session.url, ref=session.id)

    async def refund(self, purchase: Purchase) -> bool:
        if purchase.payment_ref is None:
            raise PaymentProviderError("stripe", "the purchase has no PaymentIntent to refund")
        try:
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": purchase.payment_ref}, {"idempotency_key": f"refund-{purchase.id}"}
            )
        except stripe.StripeError as error:
            raise PaymentProviderError("stripe", _described(error)) from None
        if refund.status in ("failed", "canceled"):
            raise PaymentProviderError("stripe", f"the refund is {refund.status}")
        # A pending refund finishes later; charge.refunded then takes the credits back.
        return refund.status == "succeeded"

    def read_event(self, body: bytes, signature: str | None) -> StripeEvent:
        """Verify and read a webhook; a bad, missing or stale signature is Unauthenticated
        (a 401, like the other webhooks' signatures and secrets)."""
        if not self._webhook_secret:
            raise InvalidRequest("Stripe-Signature", "Stripe webhooks are not configured")
        # The library's own check (what construct_event runs first), then the JSON read
        # once as plain data: the event object construct_event would build from it is
        # only turned back into these dicts here (the library documents verify_header
        # followed by a read of one's own). The names are imported once: the package
        # resolves `stripe.X` through a module __getattr__ on every use.
        try:
            WebhookSignature.verify_header(body, signature, self._webhook_secret, TOLERANCE_SECONDS)
            plain = json.loads(body)
        except (SignatureVerificationError, ValueError):
            raise Unauthenticated("the Stripe-Signature does not verify") from None
        if not isinstance(plain, dict):
            raise InvalidRequest("body", "not a Stripe event")
        data = plain.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        return StripeEvent(str(plain.get("id")), str(plain.get("type")), news_of(str(plain.get("type")), _plain(obj)))


def news_of(event_type: str, obj: dict[str, Any]) -> PaymentNews | None:
    purchase_id = _text(obj.get("client_reference_id")) or _text((obj.get("metadata") or {}).get("purchase_id"))
    if event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if event_type == "checkout.session.completed" and obj.get("payment_status") != "paid":
            return None  # a delayed method: async_payment_succeeded (or _failed) follows
        return PaymentNews(
            NewsKind.PAID, Provider.STRIPE, purchase_id=purchase_id, charge_id=_text(obj.get("id")),
            currency=_text(obj.get("currency")), amount=_whole(obj.get("amount_total")),
            payment_ref=_text(obj.get("payment_intent")),
        )
    if event_type == "checkout.session.expired":
        return PaymentNews(NewsKind.EXPIRED, Provider.STRIPE, purchase_id=purchase_id, reason="checkout expired")
    if event_type == "checkout.session.async_payment_failed":
        return PaymentNews(NewsKind.FAILED, Provider.STRIPE, purchase_id=purchase_id, reason="payment failed")
    if event_type == "charge.refunded":
        metadata = obj.get("metadata") or {}
        return PaymentNews(
            NewsKind.REFUNDED, Provider.STRIPE, purchase_id=_text(metadata.get("purchase_id")),
            payment_ref=_text(obj.get("payment_intent")),
        )
    return None


def _plain(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else {}


def _described(error: stripe.StripeError) -> str:
    message = getattr(error, "user_message", None) or type(error).__name__
    return str(message)[:200]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
