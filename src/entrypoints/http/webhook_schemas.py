"""The webhooks' bodies and signature headers, as the document describes them.

Each webhook handler reads its body raw (to check a signature over the exact bytes), so
Litestar sees no body to describe: these schemas are written onto the document by
`openapi.polish`, one per webhook path, with the headers that authenticate the sender.
"""

from __future__ import annotations

import attrs
from litestar.openapi.spec import Parameter, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

from adapters.payments.stripe_checkout import WEBHOOK_PATH as STRIPE_PATH
from adapters.payments.telegram_stars import WEBHOOK_PATH as TELEGRAM_PATH
from adapters.replicate.statuses import TRIGGERS
from adapters.replicate.webhooks import WEBHOOK_PATH as REPLICATE_PATH

_STRING = Schema(type=OpenAPIType.STRING)
_INTEGER = Schema(type=OpenAPIType.INTEGER)
_OBJECT = Schema(type=OpenAPIType.OBJECT)
_NULLABLE_STRING = Schema(one_of=[_STRING, Schema(type=OpenAPIType.NULL)])
_TIME = Schema(
    one_of=[Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME), Schema(type=OpenAPIType.NULL)]
)

REPLICATE_PREDICTION = Schema(
    type=OpenAPIType.OBJECT,
    title="ReplicatePrediction",
    description="Replicate's prediction object, as its webhooks send it",
    required=["id", "status"],
    properties={
        "id": Schema(type=OpenAPIType.STRING, description="the prediction id"),
        "status": Schema(type=OpenAPIType.STRING, enum=sorted(TRIGGERS)),
        "model": _STRING,
        "version": _NULLABLE_STRING,
        "input": _OBJECT,
        "output": Schema(description="a URL, a list of URLs, or null until it succeeded"),
        "error": Schema(description="why it failed (a string), or null"),
        "logs": _NULLABLE_STRING,
        "metrics": _OBJECT,
        "created_at": _TIME,
        "started_at": _TIME,
        "completed_at": _TIME,
        "urls": _OBJECT,
    },
    additional_properties=True,
    examples=[{
        "id": "gm3qorzdhgbfurvjtvhg6dckhu",
        "model": "black-forest-labs/flux-schnell",
        "status": "succeeded",
        "input": {"prompt": "A beautiful sunset over mountains"},
        "output": ["https://replicate.delivery/xezq/example/out-0.webp"],
        "error": None,
        "created_at": "2025-01-01T12:00:00.000Z",
        "completed_at": "2025-01-01T12:00:02.000Z",
    }],
)

_PAYMENT_FIELDS = {
    "currency": Schema(type=OpenAPIType.STRING, description="`XTR` for Telegram Stars"),
    "total_amount": _INTEGER,
    "invoice_payload": Schema(type=OpenAPIType.STRING, description="the purchase id"),
    "telegram_payment_charge_id": _STRING,
}
TELEGRAM_UPDATE = Schema(
    type=OpenAPIType.OBJECT,
    title="TelegramUpdate",
    description="A Telegram Bot API Update. Read: `pre_checkout_query`, and a message's "
    "`successful_payment` or `refunded_payment`; any other update is acknowledged.",
    required=["update_id"],
    properties={
        "update_id": _INTEGER,
        "pre_checkout_query": Schema(
            type=OpenAPIType.OBJECT,
            required=["id", "currency", "total_amount", "invoice_payload"],
            properties={"id": _STRING, "from": _OBJECT, **{
                name: schema for name, schema in _PAYMENT_FIELDS.items() if name != "telegram_payment_charge_id"
            }},
            additional_properties=True,
        ),
        "message": Schema(
            type=OpenAPIType.OBJECT,
            properties={
                "message_id": _INTEGER,
                "from": _OBJECT,
                "successful_payment": Schema(
                    type=OpenAPIType.OBJECT,
                    properties={**_PAYMENT_FIELDS, "provider_payment_charge_id": _STRING},
                    additional_properties=True,
                ),
                "refunded_payment": Schema(
                    type=OpenAPIType.OBJECT, properties=dict(_PAYMENT_FIELDS), additional_properties=True
                ),
            },
            additional_properties=True,
        ),
    },
    additional_properties=True,
)

STRIPE_EVENT = Schema(
    type=OpenAPIType.OBJECT,
    title="StripeEvent",
    description="A Stripe Event. Read: `checkout.session.completed`, "
    "`checkout.session.async_payment_succeeded`, `checkout.session.async_payment_failed`, "
    "`checkout.session.expired` and `charge.refunded`; other types are acknowledged.",
    required=["id", "type", "data"],
    properties={
        "id": _STRING,
        "object": Schema(const="event"),
        "type": _STRING,
        "created": _INTEGER,
        "livemode": Schema(type=OpenAPIType.BOOLEAN),
        "api_version": _NULLABLE_STRING,
        "data": Schema(
            type=OpenAPIType.OBJECT,
            required=["object"],
            properties={"object": Schema(type=OpenAPIType.OBJECT, description="a Checkout Session or a Charge")},
            additional_properties=True,
        ),
    },
    additional_properties=True,
)


def _header(name: str, description: str) -> Parameter:
    return Parameter(name=name, param_in="header", required=True, schema=_STRING, description=description)


@attrs.frozen
class Webhook:
    schema: Schema
    description: str
    headers: tuple[Parameter, ...]


WEBHOOKS = {
    REPLICATE_PATH: Webhook(
        REPLICATE_PREDICTION,
        "Replicate's prediction object, signed with the Standard Webhooks headers",
        (
            _header("webhook-id", "the delivery's id, the same on each retry"),
            _header("webhook-timestamp", "Unix seconds; older than 5 minutes is refused"),
            _header("webhook-signature", "`v1,<base64 HMAC-SHA256>`, space-separated"),
        ),
    ),
    TELEGRAM_PATH: Webhook(
        TELEGRAM_UPDATE,
        "A Telegram update, sent with the secret set by `base telegram set-webhook`",
        (_header("X-Telegram-Bot-Api-Secret-Token", "the webhook's secret (BASE_TELEGRAM_WEBHOOK_SECRET)"),),
    ),
    STRIPE_PATH: Webhook(
        STRIPE_EVENT,
        "A Stripe event, signed with the endpoint's secret",
        (_header("Stripe-Signature", "`t=<unix>,v1=<hex HMAC-SHA256>`; 5-minute tolerance"),),
    ),
}

__all__ = ["REPLICATE_PREDICTION", "STRIPE_EVENT", "TELEGRAM_UPDATE", "WEBHOOKS", "Webhook"]
