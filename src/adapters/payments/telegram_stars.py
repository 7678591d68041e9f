"""Telegram Stars through the Bot API: invoice links, pre-checkout answers, refunds, and
the updates Telegram sends to the webhook.

Method calls are `POST {api}/bot{token}/{method}` with a JSON body; the token is in the
path, so no URL, request or httpx error text is ever put into a message or a log line.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from base_core.errors import PaymentProviderError
from base_core.packs import STARS, CreditPack
from base_core.ports import Checkout
from base_core.purchases import Provider, Purchase
from base_core.usecases.purchases import NewsKind, PaymentNews

DEFAULT_API_URL = "https://api.telegram.org"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
WEBHOOK_PATH = "/api/webhook/telegram"
ALLOWED_UPDATES = ("pre_checkout_query", "message")
log = logging.getLogger(__name__)


@attrs.frozen
class PreCheckoutQuery:
    query_id: str
    purchase_id: str
    currency: str | None
    amount: int | None


class TelegramStars:
    """The bot's side of a Stars payment."""

    def __init__(
        self, bot_token: str, api_url: str = DEFAULT_API_URL, *, timeout: float = 8.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._token = bot_token
        self._api = api_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout)

    @property
    def provider(self) -> Provider:
        return Provider.TELEGRAM

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, parameters: Mapping[str, Any]) -> Any:
        try:
            response = await self._client.post(f"{self._api}/bot{self._token}/{method}", json=dict(parameters))
            answer = response.json()
        except (httpx.HTTPError, ValueError):
            # Never the error's text: it carries the URL, and the URL carries the token.
            raise PaymentProviderError("telegram", f"{method}: the Bot API did not answer") from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            description = answer.get("description") if isinstance(answer, dict) else None
            detail = str(description)[:200].replace(self._token, "***") if description else "refused"
            raise PaymentProviderError("telegram", f"{method}: {detail}")
        return answer.get("result")

    async def checkout(self, purchase: Purchase, pack: CreditPack) -> Checkout:
        link = await self.call("createInvoiceLink", {
            "title": pack.title[:32],
            "description": f"{pack.credits} credits for generating images"[:255],
            "payload": purchase.id,
            "currency": STARS,
            "prices": [{"label": pack.title[:32], "amount": purchase.amount}],
        })
        if not isinstance(link, str) or not link:
            raise PaymentProviderError("telegram", "createInvoiceLink answered no link")
        return Checkout(url=link)

    async def refund(self, purchase: Purchase) -> bool:
        if purchase.payer_ref is None or purchase.charge_id is None:
            raise PaymentProviderError("telegram", "the purchase has no payment to refund")
        await self.call("refundStarPayment", {
            "user_id": int(purchase.payer_ref),
            "telegram_payment_charge_id": purchase.charge_id,
        })
        return True  # refundStarPayment answers True once the Stars are back

    async def answer_pre_checkout(self, query_id: str, refusal: str | None) -> None:
        parameters: dict[str, Any] = {"pre_checkout_query_id": query_id, "ok": refusal is None}
        if refusal is not None:
            parameters["error_message"] = refusal
        await self.call("answerPreCheckoutQuery", parameters)

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.call("setWebhook", {
            "url": url, "secret_token": secret, "allowed_updates": list(ALLOWED_UPDATES),
        })


def secret_matches(headers: Mapping[str, str], secret: str) -> bool:
    given = headers.get(SECRET_HEADER) or headers.get("X-Telegram-Bot-Api-Secret-Token") or ""
    return hmac.compare_digest(given.encode(), secret.encode())


def read_update(update: object) -> PreCheckoutQuery | PaymentNews | None:
    """What an update asks of us: a pre-checkout to answer, payment news, or nothing."""
    if not isinstance(update, dict):
        return None
    query = update.get("pre_checkout_query")
    if isinstance(query, dict):
        query_id, payload = query.get("id"), query.get("invoice_payload")
        if isinstance(query_id, str) and query_id:
            return PreCheckoutQuery(
                query_id, payload if isinstance(payload, str) else "",
                _text(query.get("currency")), _whole(query.get("total_amount")),
            )
        return None
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    payer = message.get("from")
    payer_ref = str(payer["id"]) if isinstance(payer, dict) and isinstance(payer.get("id"), int) else None
    paid = message.get("successful_payment")
    if isinstance(paid, dict):
        return PaymentNews(
            NewsKind.PAID, Provider.TELEGRAM,
            purchase_id=_text(paid.get("invoice_payload")),
            charge_id=_text(paid.get("telegram_payment_charge_id")),
            currency=_text(paid.get("currency")), amount=_whole(paid.get("total_amount")),
            payment_ref=_text(paid.get("provider_payment_charge_id")), payer_ref=payer_ref,
        )
    refunded = message.get("refunded_payment")
    if isinstance(refunded, dict):
        return PaymentNews(
            NewsKind.REFUNDED, Provider.TELEGRAM,
            purchase_id=_text(refunded.get("invoice_payload")),
            charge_id=_text(refunded.get("telegram_payment_charge_id")),
            currency=_text(refunded.get("currency")), amount=_whole(refunded.get("total_amount")),
        )
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
