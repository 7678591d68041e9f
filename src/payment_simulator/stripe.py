"""Stripe's API, the Checkout part: Checkout Sessions, refunds, and signed events.

Requests are form-encoded with `Authorization: Bearer sk_...`, as the official clients
send them (`line_items[0][price_data][currency]=usd`); objects and errors are Stripe's
JSON. Events are signed like Stripe signs them (`Stripe-Signature: t=<unix>,v1=<hex
HMAC-SHA256 of "<t>.<body>">`) and delivered to the endpoint with retries. Paying,
expiring and failing a session are the simulator's own routes (`/_sim/stripe/...`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx

from payment_simulator.delivery import Delivery, deliver

_KEY_PART = re.compile(r"\[([^\]]*)\]")


class StripeApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": kind, "message": message, **({"param": param} if param else {})}}


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The Stripe-Signature header of `body` with the endpoint secret `secret`."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def parse_form(raw: bytes) -> dict[str, Any]:
    """Stripe's bracketed form keys into nested dicts (lists as dicts keyed "0", "1"...)."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(raw.decode(), keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + _KEY_PART.findall("[" + rest) if rest else [head]
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    plain: dict[str, Any] = _lists(result)
    return plain


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


@attrs.define
class StripeState:
    secret_key: str
    webhook_secret: str
    webhook_url: str | None = None
    base_url: str = ""
    sessions: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    refunds: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    events: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    idempotent: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    deliveries: list[Delivery] = attrs.field(factory=list)


class StripeApi:
    def __init__(self, secret_key: str, webhook_secret: str, client: httpx.AsyncClient | None = None) -> None:
        self.state = StripeState(secret_key, webhook_secret)
        self._client = client

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=15.0)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def authorize(self, authorization: str | None) -> None:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(key.strip(), self.state.secret_key):
            raise StripeApiError(401, "Invalid API Key provided", "invalid_request_error")

    def create_session(self, form: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        if idempotency_key and idempotency_key in self.state.idempotent:
            return self.state.idempotent[idempotency_key]
        if form.get("mode") != "payment":
            raise StripeApiError(400, "Only mode=payment is simulated", param="mode")
        items = form.get("line_items")
        if not isinstance(items, list) or len(items) != 1:
            raise StripeApiError(400, "Exactly one line item is simulated", param="line_items")
        price = items[0].get("price_data") or {}
        try:
            unit_amount, quantity = int(price["unit_amount"]), int(items[0].get("quantity", 1))
            currency = str(price["currency"]).lower()
        except (KeyError, ValueError):
            raise StripeApiError(400, "Missing price_data", param="line_items[0][price_data]") from None
        for url in ("success_url", "cancel_url"):
            if not str(form.get(url, "")).startswith("http"):
                raise StripeApiError(400, f"Missing {url}", param=url)
        session_id = f"cs_test_{secrets.token_hex(12)}"
        session = {
            "id": session_id, "object": "checkout.session", "mode": "payment", "status": "open",
            "payment_status": "unpaid", "amount_total": unit_amount * quantity, "currency": currency,
            "client_reference_id": form.get("client_reference_id"), "metadata": form.get("metadata") or {},
            "payment_intent": None, "success_url": form["success_url"], "cancel_url": form["cancel_url"],
            "url": f"{self.state.base_url}/_sim/stripe/pay/{session_id}", "livemode": False,
            "created": int(time.time()), "expires_at": int(time.time()) + 86_400,
        }
        self.state.sessions[session_id] = session
        if idempotency_key:
            self.state.idempotent[idempotency_key] = session
        return session

    def balance(self) -> dict[str, Any]:
        """`GET /v1/balance`: what a key may always read (a cheap authenticated call)."""
        return {"object": "balance", "livemode": False,
                "available": [{"amount": 0, "currency": "usd"}], "pending": [{"amount": 0, "currency": "usd"}]}

    def session(self, session_id: str) -> dict[str, Any]:
        session = self.state.sessions.get(str(session_id))
        if session is None:
            raise StripeApiError(404, f"No such checkout.session: '{session_id}'", param="id")
        return session

    async def create_refund(self, form: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        if idempotency_key and idempotency_key in self.state.idempotent:
            return self.state.idempotent[idempotency_key]
        intent = str(form.get("payment_intent"))
        session = next((s for s in self.state.sessions.values() if s["payment_intent"] == intent), None)
        if session is None:
            raise StripeApiError(404, f"No such payment_intent: '{intent}'", param="payment_intent")
        if session.get("refunded"):
            raise StripeApiError(400, "Charge has already been refunded.", param="charge")
        session["refunded"] = True
        refund = {
            "id": f"re_{secrets.token_hex(12)}", "object": "refund", "status": "succeeded",
            "amount": session["amount_total"], "currency": session["currency"],
            "payment_intent": intent, "charge": session["charge"],
        }
        self.state.refunds[str(refund["id"])] = refund
        if idempotency_key:
            self.state.idempotent[idempotency_key] = refund
        charge = {
            "id": session["charge"], "object": "charge", "amount": session["amount_total"],
            "amount_refunded": session["amount_total"], "refunded": True, "currency": session["currency"],
            "payment_intent": intent, "metadata": {}, "status": "succeeded",
        }
        await self.send_event("charge.refunded", charge)
        return refund

    # The simulator's own routes

    async def pay(self, session_id: str, amount_total: int | None = None, *, delayed: bool = False) -> dict[str, Any]:
        """The buyer pays: the session completes and `checkout.session.completed` is sent
        (`delayed`: unpaid first, then `async_payment_succeeded`)."""
        session = self.session(session_id)
        if session["status"] != "open":
            raise StripeApiError(400, f"The session is {session['status']}")
        session.update(
            status="complete", payment_intent=f"pi_{secrets.token_hex(12)}", charge=f"ch_{secrets.token_hex(12)}",
        )
        if amount_total is not None:
            session["amount_total"] = amount_total
        if delayed:
            await self.send_event("checkout.session.completed", session)
            session["payment_status"] = "paid"
            return await self.send_event("checkout.session.async_payment_succeeded", session)
        session["payment_status"] = "paid"
        return await self.send_event("checkout.session.completed", session)

    async def expire(self, session_id: str) -> dict[str, Any]:
        session = self.session(session_id)
        if session["status"] != "open":
            raise StripeApiError(400, f"The session is {session['status']}")
        session["status"] = "expired"
        return await self.send_event("checkout.session.expired", session)

    async def send_event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": f"evt_{secrets.token_hex(12)}", "object": "event", "api_version": "2025-01-27.acacia",
            "created": int(time.time()), "type": event_type, "livemode": False, "pending_webhooks": 1,
            "data": {"object": json.loads(json.dumps(obj))}, "request": {"id": None, "idempotency_key": None},
        }
        self.state.events[str(event["id"])] = event
        await self.deliver(event)
        return event

    async def deliver(self, event: dict[str, Any], *, timestamp: int | None = None, secret: str | None = None) -> Delivery:
        """Send an event (again) to the endpoint, signed (with another secret or time if asked)."""
        if self.state.webhook_url is None:
            raise StripeApiError(409, "no webhook endpoint is set")
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json",
                   "Stripe-Signature": sign(secret or self.state.webhook_secret, body, timestamp)}
        delivery = await deliver(self.client, self.state.webhook_url, body, headers)
        self.state.deliveries.append(delivery)
        return delivery
