"""Replicate's read routes: models, their versions, the prediction list, the account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from replicate_simulator import problems
from replicate_simulator.engine import Engine
from replicate_simulator.gate import admit
from replicate_simulator.models import ModelSpec
from replicate_simulator.pagination import InvalidCursor, page
from replicate_simulator.schemas import model_json, version_json
from replicate_simulator.state import Prediction


def read_handlers(engine: Engine) -> list[HTTPRouteHandler]:
    def model_named(request: Request[Any, Any, Any]) -> ModelSpec:
        owner, name = request.path_params["owner"], request.path_params["name"]
        model = engine.catalog.by_ref(f"{owner}/{name}")
        if model is None:
            raise problems.not_found(f"Model {owner}/{name} not found")
        return model

    @get("/v1/models/{owner:str}/{name:str}")
    async def get_model(request: Request[Any, Any, Any]) -> Response[Any]:
        await admit(engine, request, "model")
        model = model_named(request)
        return Response(model_json(model, engine.run_count(model)))

    @get("/v1/models/{owner:str}/{name:str}/versions")
    async def list_versions(request: Request[Any, Any, Any]) -> Response[Any]:
        await admit(engine, request, "model")
        model = model_named(request)
        return Response({"next": None, "previous": None, "results": [version_json(model)]})

    @get("/v1/models/{owner:str}/{name:str}/versions/{version_id:str}")
    async def get_version(request: Request[Any, Any, Any]) -> Response[Any]:
        await admit(engine, request, "model")
        model = model_named(request)
        if request.path_params["version_id"] != model.version:
            raise problems.not_found(f"Version not found for model {model.ref}")
        return Response(version_json(model))

    @get("/v1/predictions")
    async def list_predictions(request: Request[Any, Any, Any]) -> Response[Any]:
        _, account = await admit(engine, request, "list")
        after = _instant(request.query_params.get("created_after"), "created_after")
        before = _instant(request.query_params.get("created_before"), "created_before")
        chosen = [
            p for p in engine.predictions(account)
            if (after is None or _created(p) >= after) and (before is None or _created(p) < before)
        ]
        try:
            results, next_url, previous_url = page(
                chosen, _key, request.query_params.get("cursor"), engine.config.page_size,
                f"{engine.base_url}/v1/predictions",
            )
        except InvalidCursor as error:
            raise problems.bad_request("Invalid cursor") from error
        return Response({
            "next": _keep_filters(next_url, request),
            "previous": _keep_filters(previous_url, request),
            "results": [p.to_json(engine.base_url) for p in results],
        })

    @get("/v1/account")
    async def account(request: Request[Any, Any, Any]) -> Response[Any]:
        _, name = await admit(engine, request, "account")
        return Response({
            "type": "user", "username": name, "name": name, "github_url": None, "avatar_url": None,
        })

    return [get_model, list_versions, get_version, list_predictions, account]


def _key(prediction: Prediction) -> tuple[float, str]:
    return prediction.created_at, prediction.id


def _created(prediction: Prediction) -> datetime:
    # At the microseconds shown in `created_at`, so a shown value filters exactly.
    return datetime.fromtimestamp(prediction.created_at, UTC)


def _instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as error:
        raise problems.bad_request(f"{name} must be an ISO 8601 date-time") from error
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _keep_filters(url: str | None, request: Request[Any, Any, Any]) -> str | None:
    if url is None:
        return None
    for name in ("created_after", "created_before"):
        value = request.query_params.get(name)
        if value is not None:
            url += "&" + urlencode({name: value})
    return url
