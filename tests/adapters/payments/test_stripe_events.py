"""Stripe webhook events read by the adapter: the library verifies the signature (5-minute
tolerance), the body is read once as plain JSON into the core's news."""

from __future__ import annotations

import json
import time

import pytest

from adapters.payments.stripe_checkout import StripeCheckout
from base_core.errors import InvalidRequest, Unauthenticated
from base_core.purchases import Provider
from base_core.usecases.purchases import NewsKind
from payment_simulator.stripe import sign

SECRET = "whsec_events_" + "x" * 24


def _checkout() -> StripeCheckout:
    return StripeCheckout("sk_test_events", SECRET, "https://studio.example")


def _event(**session: object) -> bytes:
    obj = {"id": "cs_1", "object": "checkout.session", "payment_status": "paid", "amount_total": 499,
           "currency": "usd", "client_reference_id": "purchase-1", "payment_intent": "pi_1",
           "metadata": {"purchase_id": "purchase-1"}, **session}
    return json.dumps({"id": "evt_1", "object": "event", "type": "checkout.session.completed",
                       "data": {"object": obj}}).encode()


def test_a_signed_paid_session_is_read_into_news() -> None:
    body = _event()
    event = _checkout().read_event(body, sign(SECRET, body))
    assert (event.id, event.type) == ("evt_1", "checkout.session.completed")
    news = event.news
    assert news is not None and (news.kind, news.provider) == (NewsKind.PAID, Provider.STRIPE)
    assert (news.purchase_id, news.charge_id, news.currency, news.amount, news.payment_ref) == (
        "purchase-1", "cs_1", "usd", 499, "pi_1")


@pytest.mark.parametrize("signature", [
    None, "", "t=1,v1=00", "garbage",
    sign("whsec_other_" + "y" * 24, _event()),
    sign(SECRET, _event(), int(time.time()) - 301),  # outside the tolerance
    sign(SECRET, _event(amount_total=1)),  # another body's signature
])
def test_a_missing_forged_or_stale_signature_is_refused(signature: str | None) -> None:
    with pytest.raises(Unauthenticated):
        _checkout().read_event(_event(), signature)


def test_a_signed_body_that_is_not_json_or_not_an_event_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        _checkout().read_event(b"{not json", sign(SECRET, b"{not json"))
    with pytest.raises(InvalidRequest):
        _checkout().read_event(b"[1, 2]", sign(SECRET, b"[1, 2]"))
