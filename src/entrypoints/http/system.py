"""Public routes: the model catalogue, Replicate's webhook, and the health check."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery

from adapters.replicate.webhooks import WEBHOOK_PATH
from base_core import Action
from entrypoints.http.dependencies import ServicesDep, StudioDep, provide_services
from entrypoints.http.problems import PROBLEM_JSON, problem, problem_responses
from entrypoints.http.schemas import Health, ModelList, Problem, WebhookAck, model_out


@get(
    "/api/models/list",
    tags=["models"],
    summary="The model catalogue, optionally for one action",
    responses=problem_responses(400),
)
async def list_models(studio: StudioDep, action: FromQuery[Action | None] = None) -> ModelList:
    return ModelList(models=[model_out(m) for m in studio.models(action)])


@post(
    WEBHOOK_PATH,
    status_code=200,
    tags=["webhooks"],
    summary="Replicate's signed prediction webhook",
    description="Duplicates, late and out-of-order deliveries are harmless.",
    responses=problem_responses(
        400, 401, 413, 503,
        described={
            400: "Signed, but not a prediction Replicate sends",
            401: "The webhook-* signature headers are missing, too old, or do not verify",
        },
    ),
)
async def replicate_webhook(request: Request[Any, Any, Any]) -> WebhookAck:
    # Resolved in line, as on the other hot routes: a dependency costs Litestar a
    # resolution pass on every request.
    services = provide_services(request.app.state)
    body = await request.body()
    verified = await services.webhooks.verify(dict(request.headers), body)
    await services.studio.apply_update(verified.update, verified.delivery_id)
    return WebhookAck(received=True)


@get(
    "/health",
    tags=["system"],
    summary="Up, and the database answers",
    responses={503: problem_responses(503, described={503: "The database does not answer"})[503]},
)
async def health(services: ServicesDep) -> Response[Health | Problem]:
    try:
        await services.ping()
    except Exception:
        body = problem(503, "the database does not answer")
        return Response(body, status_code=503, media_type=PROBLEM_JSON)
    return Response(Health(status="ok", database="ok"))
