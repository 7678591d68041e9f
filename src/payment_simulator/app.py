"""One small ASGI app serving both simulated providers on one port.

    POST /bot<token>/<method>                 Telegram's Bot API
    POST /_sim/telegram/pay                   {"invoice_link" or "slug", "user_id", "amount"?}
    POST /_sim/telegram/pre-checkout          {"payload", "amount", "user_id"?}: the bot's answer
    POST /_sim/telegram/update                any update, sent to the webhook as is
    GET  /_sim/telegram/invoice/<slug>        the invoice (what the link opens)
    POST /v1/checkout/sessions, GET /v1/checkout/sessions/<id>, POST /v1/refunds,
    GET /v1/balance                           Stripe
    GET  /_sim/stripe/pay/<id>                the Checkout page: a button that pays
    POST /_sim/stripe/pay/<id>                pay {"amount_total"?, "delayed"?}
    POST /_sim/stripe/expire/<id>             expire the session
    POST /_sim/stripe/event                   {"type", "object"}: any event, signed and sent
    POST /_sim/stripe/resend/<event id>       {"timestamp"?, "secret"?}: deliver an event again
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from payment_simulator.stripe import StripeApi, StripeApiError, parse_form
from payment_simulator.telegram import BotApiError, TelegramBot

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class PaymentSimulatorApp:
    def __init__(self, telegram: TelegramBot, stripe: StripeApi) -> None:
        self.telegram = telegram
        self.stripe = stripe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        status, payload, content_type = await self._route(scope["method"], scope["path"], headers, body)
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.telegram.aclose()
                await self.stripe.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, str]:
        js = "application/json"
        try:
            if path.startswith("/bot") and method == "POST":
                token, _, bot_method = path[4:].partition("/")
                params = _params(headers, body)
                return 200, {"ok": True, "result": await self.telegram.call(token, bot_method, params)}, js
            if path.startswith("/_sim/telegram/"):
                return await self._telegram_sim(method, path.removeprefix("/_sim/telegram/"), _json(body))
            if path.startswith("/v1/"):
                return await self._stripe_api(method, path, headers, body)
            if path.startswith("/_sim/stripe/"):
                return await self._stripe_sim(method, path.removeprefix("/_sim/stripe/"), headers, body)
        except BotApiError as error:
            return error.code, {"ok": False, "error_code": error.code, "description": error.description}, js
        except StripeApiError as error:
            return error.status, error.body, js
        return 404, {"error": "not found"}, js

    async def _telegram_sim(self, method: str, rest: str, data: dict[str, Any]) -> tuple[int, Any, str]:
        js = "application/json"
        if method == "POST" and rest == "pay":
            slug = str(data.get("slug") or str(data.get("invoice_link", "")).rsplit("/", 1)[-1])
            amount = data.get("amount")
            return 200, await self.telegram.pay(slug, int(data.get("user_id", 1)), amount), js
        if method == "POST" and rest == "pre-checkout":
            answer = await self.telegram.pre_checkout(
                str(data.get("payload", "")), int(data.get("amount", 1)), int(data.get("user_id", 1)),
                str(data.get("currency", "XTR")),
            )
            return 200, answer, js
        if method == "POST" and rest == "update":
            delivery = await self.telegram.send_update(data)
            return 200, {"status": delivery.status, "attempts": delivery.attempts}, js
        if method == "GET" and rest.startswith("invoice/"):
            invoice = self.telegram.state.invoices.get(rest.removeprefix("invoice/"))
            if invoice is None:
                return 404, {"error": "no such invoice"}, js
            return 200, {"slug": invoice.slug, "title": invoice.title, "currency": invoice.currency,
                         "amount": invoice.amount, "payload": invoice.payload}, js
        return 404, {"error": "not found"}, js

    async def _stripe_api(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, str]:
        js = "application/json"
        self.stripe.authorize(headers.get("authorization"))
        form = parse_form(body) if method == "POST" else {}
        key = headers.get("idempotency-key")
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self.stripe.create_session(form, key), js
        if method == "GET" and path.startswith("/v1/checkout/sessions/"):
            return 200, self.stripe.session(path.rsplit("/", 1)[-1]), js
        if method == "POST" and path == "/v1/refunds":
            return 200, await self.stripe.create_refund(form, key), js
        if method == "GET" and path == "/v1/balance":
            return 200, self.stripe.balance(), js
        raise StripeApiError(404, f"Unrecognized request URL ({method}: {path})")

    async def _stripe_sim(self, method: str, rest: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, str]:
        js = "application/json"
        data = _json(body) if headers.get("content-type", "").startswith("application/json") else {}
        if rest.startswith("pay/"):
            session_id = rest.removeprefix("pay/")
            if method == "GET":
                return 200, _checkout_page(self.stripe.session(session_id)), "text/html; charset=utf-8"
            event = await self.stripe.pay(session_id, data.get("amount_total"), delayed=bool(data.get("delayed")))
            if not headers.get("content-type", "").startswith("application/json"):
                return 200, _paid_page(self.stripe.session(session_id)), "text/html; charset=utf-8"
            return 200, event, js
        if method == "POST" and rest.startswith("expire/"):
            return 200, await self.stripe.expire(rest.removeprefix("expire/")), js
        if method == "POST" and rest == "event":
            return 200, await self.stripe.send_event(str(data.get("type")), data.get("object") or {}), js
        if method == "POST" and rest.startswith("resend/"):
            found = self.stripe.state.events.get(rest.removeprefix("resend/"))
            if found is None:
                raise StripeApiError(404, "no such event")
            delivery = await self.stripe.deliver(found, timestamp=data.get("timestamp"), secret=data.get("secret"))
            return 200, {"status": delivery.status, "attempts": delivery.attempts}, js
        return 404, {"error": "not found"}, js


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _params(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    if headers.get("content-type", "").startswith("application/json"):
        return _json(body)
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


_NO_ICON = "<link rel='icon' href='data:,'>"  # a browser asks for no /favicon.ico


def _checkout_page(session: dict[str, Any]) -> bytes:
    amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
    return (
        f"<!doctype html>{_NO_ICON}<title>Simulated Stripe Checkout</title>"
        f"<h1>Pay {amount}</h1><p>Simulated Checkout Session {session['id']} ({session['status']}).</p>"
        f"<form method=post action='/_sim/stripe/pay/{session['id']}'><button>Pay</button></form>"
    ).encode()


def _paid_page(session: dict[str, Any]) -> bytes:
    return (
        f"<!doctype html>{_NO_ICON}<title>Paid</title><h1>Paid</h1>"
        f"<p><a href='{session['success_url']}'>Back to the studio</a></p>"
    ).encode()
