"""Telegram's Bot API, the payment part: invoice links, pre-checkout, Stars payments, refunds.

`POST /bot<token>/<method>` (JSON or form) answers `{"ok": true, "result": ...}` or
`{"ok": false, "error_code", "description"}` like Telegram. "Paying" an invoice
(`POST /_sim/telegram/pay`) sends the `pre_checkout_query` to the registered webhook
with the secret header, waits up to 10 seconds for `answerPreCheckoutQuery`, and when
the answer is ok sends `message.successful_payment`; a refund sends `refunded_payment`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from typing import Any

import attrs
import httpx

from payment_simulator.delivery import Delivery, deliver

ANSWER_TIMEOUT = 10.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class BotApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@attrs.define
class Invoice:
    slug: str
    title: str
    description: str
    payload: str
    currency: str
    amount: int


@attrs.define
class StarPayment:
    charge_id: str
    user_id: int
    invoice: Invoice
    amount: int
    refunded: bool = False


@attrs.define
class TelegramState:
    token: str
    base_url: str = ""
    webhook_url: str | None = None
    webhook_secret: str | None = None
    allowed_updates: list[str] = attrs.field(factory=list)
    invoices: dict[str, Invoice] = attrs.field(factory=dict)
    payments: dict[str, StarPayment] = attrs.field(factory=dict)
    answers: dict[str, asyncio.Future[dict[str, Any]]] = attrs.field(factory=dict)
    answered: list[dict[str, Any]] = attrs.field(factory=list)
    deliveries: list[Delivery] = attrs.field(factory=list)
    calls: list[str] = attrs.field(factory=list)  # method names, in order
    update_ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))


class TelegramBot:
    def __init__(self, token: str, client: httpx.AsyncClient | None = None) -> None:
        self.state = TelegramState(token)
        self._client = client

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=15.0)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    # The Bot API

    async def call(self, token: str, method: str, params: dict[str, Any]) -> Any:
        if not secrets.compare_digest(token, self.state.token):
            raise BotApiError(401, "Unauthorized")
        self.state.calls.append(method)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise BotApiError(404, "Not Found: method not found")
        return await handler(params)

    async def _m_createInvoiceLink(self, p: dict[str, Any]) -> str:
        title, description, payload = p.get("title"), p.get("description"), p.get("payload")
        prices, currency = _json_field(p.get("prices")), p.get("currency")
        if not isinstance(title, str) or not 1 <= len(title) <= 32:
            raise BotApiError(400, "Bad Request: invoice title length must be 1-32")
        if not isinstance(description, str) or not 1 <= len(description) <= 255:
            raise BotApiError(400, "Bad Request: invoice description length must be 1-255")
        if not isinstance(payload, str) or not 1 <= len(payload.encode()) <= 128:
            raise BotApiError(400, "Bad Request: invoice payload length must be 1-128 bytes")
        if currency != "XTR":
            raise BotApiError(400, "Bad Request: only XTR is simulated")
        if p.get("provider_token"):
            raise BotApiError(400, "Bad Request: payments in Telegram Stars take no provider token")
        if not isinstance(prices, list) or len(prices) != 1 or not isinstance(prices[0], dict):
            raise BotApiError(400, "Bad Request: XTR invoices need exactly one price")
        amount = prices[0].get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise BotApiError(400, "Bad Request: the price must be a positive whole number of Stars")
        slug = secrets.token_urlsafe(12)
        self.state.invoices[slug] = Invoice(slug, title, description, payload, currency, amount)
        return f"{self.state.base_url}/_sim/telegram/invoice/{slug}"

    async def _m_answerPreCheckoutQuery(self, p: dict[str, Any]) -> bool:
        query_id, ok = p.get("pre_checkout_query_id"), _flag(p.get("ok"))
        if ok is False and not p.get("error_message"):
            raise BotApiError(400, "Bad Request: error_message is required when ok is False")
        future = self.state.answers.get(str(query_id))
        if future is None:
            raise BotApiError(400, "Bad Request: query is too old or query ID is invalid")
        answer = {"ok": ok, "error_message": p.get("error_message")}
        self.state.answered.append({"query_id": query_id, **answer})
        if not future.done():
            future.set_result(answer)
        return True

    async def _m_refundStarPayment(self, p: dict[str, Any]) -> bool:
        payment = self.state.payments.get(str(p.get("telegram_payment_charge_id")))
        user_id = _int(p.get("user_id"))
        if payment is None or payment.user_id != user_id:
            raise BotApiError(400, "Bad Request: CHARGE_NOT_FOUND")
        if payment.refunded:
            raise BotApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        payment.refunded = True
        message = {
            "refunded_payment": {
                "currency": "XTR", "total_amount": payment.amount,
                "invoice_payload": payment.invoice.payload, "telegram_payment_charge_id": payment.charge_id,
            },
        }
        asyncio.get_running_loop().create_task(self.send_update(self._message(payment.user_id, message)))
        return True

    async def _m_setWebhook(self, p: dict[str, Any]) -> bool:
        url = p.get("url")
        self.state.webhook_url = url if isinstance(url, str) and url else None
        secret = p.get("secret_token")
        self.state.webhook_secret = secret if isinstance(secret, str) else None
        allowed = _json_field(p.get("allowed_updates"))
        self.state.allowed_updates = list(allowed) if isinstance(allowed, list) else []
        return True

    async def _m_getWebhookInfo(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.state.webhook_url or "", "allowed_updates": self.state.allowed_updates,
                "pending_update_count": 0, "has_custom_certificate": False}

    async def _m_getMe(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"id": 1, "is_bot": True, "first_name": "Simulated bot", "username": "base_sim_bot"}

    # What the simulator does by itself

    async def pre_checkout(
        self, payload: str, total: int, user_id: int, currency: str = "XTR"
    ) -> dict[str, Any]:
        """Send a `pre_checkout_query` and wait (10 s at most) for the bot's answer."""
        query_id = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.state.answers[query_id] = future
        query = {
            "id": query_id, "from": _user(user_id), "currency": currency,
            "total_amount": total, "invoice_payload": payload,
        }
        try:
            await self.send_update({"pre_checkout_query": query})
            return await asyncio.wait_for(asyncio.shield(future), ANSWER_TIMEOUT)
        except TimeoutError:
            return {"ok": False, "error_message": "the bot did not answer within 10 seconds"}
        finally:
            self.state.answers.pop(query_id, None)

    async def pay(self, slug: str, user_id: int, amount: int | None = None) -> dict[str, Any]:
        """A user pays an invoice: pre-checkout first, the payment only if it was accepted."""
        invoice = self.state.invoices.get(slug)
        if invoice is None:
            raise BotApiError(404, "no such invoice")
        total = invoice.amount if amount is None else amount
        answer = await self.pre_checkout(invoice.payload, total, user_id, invoice.currency)
        if not answer["ok"]:
            return {"paid": False, "error_message": answer["error_message"]}
        charge_id = f"stxsim{secrets.token_hex(10)}"
        self.state.payments[charge_id] = StarPayment(charge_id, user_id, invoice, total)
        paid = {
            "currency": invoice.currency, "total_amount": total, "invoice_payload": invoice.payload,
            "telegram_payment_charge_id": charge_id, "provider_payment_charge_id": "",
        }
        update = self._message(user_id, {"successful_payment": paid})
        delivery = await self.send_update(update)
        return {"paid": True, "telegram_payment_charge_id": charge_id, "update": update,
                "delivered": delivery.status}

    async def send_update(self, update: dict[str, Any]) -> Delivery:
        """Send an update (an `update_id` is added when missing) to the webhook."""
        if self.state.webhook_url is None:
            raise BotApiError(409, "no webhook is set (setWebhook)")
        update = {"update_id": next(self.state.update_ids), **update}
        headers = {"Content-Type": "application/json"}
        if self.state.webhook_secret:
            headers[SECRET_HEADER] = self.state.webhook_secret
        delivery = await deliver(self.client, self.state.webhook_url, json.dumps(update).encode(), headers)
        self.state.deliveries.append(delivery)
        return delivery

    def _message(self, user_id: int, content: dict[str, Any]) -> dict[str, Any]:
        return {"message": {
            "message_id": next(self.state.update_ids), "date": int(time.time()),
            "from": _user(user_id), "chat": {"id": user_id, "type": "private"}, **content,
        }}


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Sim", "username": f"user{user_id}"}


def _json_field(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
