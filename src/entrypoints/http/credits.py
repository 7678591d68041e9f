"""Credit packs, buying them, the credit history, the payment webhooks, the operators' view."""

from __future__ import annotations

import json
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from adapters.payments.stripe_checkout import SIGNATURE_HEADER
from adapters.payments.stripe_checkout import WEBHOOK_PATH as STRIPE_WEBHOOK_PATH
from adapters.payments.telegram_stars import WEBHOOK_PATH as TELEGRAM_WEBHOOK_PATH
from adapters.payments.telegram_stars import PreCheckoutQuery, read_update, secret_matches
from base_core.errors import InvalidRequest, Unauthenticated
from base_core.purchases import Provider, PurchaseQuery, PurchaseStatus
from base_core.usecases.purchases import MAX_HISTORY_LIMIT, MAX_HISTORY_PAGE
from entrypoints.features import STARS, STRIPE
from entrypoints.http.credit_schemas import (
    HistoryOut,
    PackList,
    PurchaseIn,
    PurchaseList,
    PurchaseOut,
    PurchaseStarted,
    history_out,
    pack_out,
    purchase_out,
    purchase_started,
)
from entrypoints.http.dependencies import (
    CALLER,
    SECURITY,
    CallerDep,
    ServicesDep,
    StudioDep,
    admins_only,
    exactly,
    path_id,
    provide_services,
)
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import WebhookAck

MAX_ADMIN_LIMIT = 200


@get("/api/credits/packs", tags=["credits"], summary="The credit packs on sale, with their prices")
async def list_packs(studio: StudioDep) -> PackList:
    stars, stripe = studio.sells_through(Provider.TELEGRAM), studio.sells_through(Provider.STRIPE)
    return PackList(packs=[pack_out(p, stars=stars, stripe=stripe) for p in studio.packs()])


class CreditsController(Controller):
    path = "/api/credits"
    tags = ["credits"]
    dependencies = CALLER
    security = SECURITY

    @post(
        "/purchase",
        status_code=201,
        summary="Start buying a credit pack with Telegram Stars or Stripe Checkout",
        description="Answers the invoice link (Telegram: `Telegram.WebApp.openInvoice`) or the "
        "Checkout page (Stripe). The credits arrive when the provider confirms the payment.",
        responses=problem_responses(400, 401, 413, 503),
    )
    async def purchase(
        self, data: JSONBody[PurchaseIn], request: Request[Any, Any, Any], caller: CallerDep,
        studio: StudioDep, services: ServicesDep,
    ) -> PurchaseStarted:
        data = await exactly(request, data)
        provider = Provider(data.provider)
        payments = services.payments
        sold = payments is not None and (
            payments.telegram is not None if provider is Provider.TELEGRAM else payments.stripe is not None
        )
        if not sold:
            raise (STARS if provider is Provider.TELEGRAM else STRIPE).not_configured()
        started = await studio.start_purchase(caller.user_id, data.pack_id, provider)
        return purchase_started(started)

    @get("/purchases/{purchase_id:str}", summary="One of the caller's purchases", responses=problem_responses(400, 401, 404))
    async def read(self, purchase_id: FromPath[str], caller: CallerDep, studio: StudioDep) -> PurchaseOut:
        return purchase_out(await studio.purchase(caller.user_id, path_id("purchase", purchase_id)))

    @get("/history", summary="The caller's credit ledger, newest first", responses=problem_responses(400, 401))
    async def history(
        self,
        caller: CallerDep,
        studio: StudioDep,
        page: Annotated[int, QueryParameter(ge=1, le=MAX_HISTORY_PAGE, description="1-based page")] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_HISTORY_LIMIT, description="page size")] = 20,
    ) -> HistoryOut:
        return history_out(await studio.credit_history(caller.user_id, page, limit))


@post(
    TELEGRAM_WEBHOOK_PATH,
    status_code=200,
    tags=["webhooks"],
    summary="Telegram's bot updates (payments in Stars)",
    description="Read only with the X-Telegram-Bot-Api-Secret-Token set by `base telegram "
    "set-webhook`. Updates other than pre-checkout queries and payments are acknowledged.",
    responses=problem_responses(
        400, 401, 413, 503,
        described={
            400: "The body is not JSON",
            401: "The X-Telegram-Bot-Api-Secret-Token header is missing or does not match",
        },
    ),
)
async def telegram_webhook(request: Request[Any, Any, Any]) -> WebhookAck:
    services = provide_services(request.app.state)  # in line: a dependency costs a resolution pass
    payments = services.payments
    telegram = payments.telegram if payments else None
    secret = payments.telegram_webhook_secret if payments else None
    if telegram is None or not secret:
        raise STARS.not_configured()
    if not secret_matches(request.headers, secret):
        raise Unauthenticated("the webhook secret does not match")
    try:
        update = json.loads(await request.body())
    except ValueError:
        raise InvalidRequest("body", "not JSON") from None
    read = read_update(update)
    if isinstance(read, PreCheckoutQuery):
        refusal = await services.studio.pre_checkout_refusal(read.purchase_id, read.currency, read.amount)
        await telegram.answer_pre_checkout(read.query_id, refusal)
    elif read is not None:
        await services.studio.apply_payment(read)
    return WebhookAck(received=True)


@post(
    STRIPE_WEBHOOK_PATH,
    status_code=200,
    tags=["webhooks"],
    summary="Stripe's signed events (Checkout Sessions, refunds)",
    description="Verified with the Stripe-Signature header (5-minute tolerance); unknown "
    "event types are acknowledged and ignored.",
    responses=problem_responses(
        400, 401, 413, 503,
        described={401: "The Stripe-Signature header is missing, too old, or does not verify"},
    ),
)
async def stripe_webhook(request: Request[Any, Any, Any]) -> WebhookAck:
    services = provide_services(request.app.state)  # in line: a dependency costs a resolution pass
    stripe = services.payments.stripe if services.payments else None
    if stripe is None:
        raise STRIPE.not_configured()
    event = stripe.read_event(await request.body(), request.headers.get(SIGNATURE_HEADER))
    if event.news is not None:
        await services.studio.apply_payment(event.news)
    return WebhookAck(received=True)


class AdminPurchasesController(Controller):
    path = "/api/admin/purchases"
    tags = ["admin"]
    guards = [admins_only]
    security = SECURITY

    @get("/", summary="Purchases, newest first, optionally by status", responses=problem_responses(400, 401, 403))
    async def list_purchases(
        self,
        studio: StudioDep,
        status: FromQuery[PurchaseStatus | None] = None,
        page: Annotated[int, QueryParameter(ge=1, le=MAX_HISTORY_PAGE)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_ADMIN_LIMIT)] = 50,
    ) -> PurchaseList:
        found = await studio.purchases(PurchaseQuery(status=status, limit=limit, offset=(page - 1) * limit))
        return PurchaseList(purchases=[purchase_out(p) for p in found], page=page, limit=limit)

    @post(
        "/{purchase_id:str}/refund",
        status_code=200,
        summary="Refund a purchase at its provider, then take back its credits",
        description="Credits already spent are not taken below zero; the rest is the shortfall.",
        responses=problem_responses(
            400, 401, 403, 404, 409, 503,
            described={409: "The purchase is not paid (or already refunded): nothing to refund"},
        ),
    )
    async def refund(self, purchase_id: FromPath[str], studio: StudioDep) -> PurchaseOut:
        return purchase_out(await studio.refund_purchase(path_id("purchase", purchase_id)))
