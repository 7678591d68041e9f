"""The HTTP face of the simulator: Replicate's `/v1` routes and the output files."""

from __future__ import annotations

import asyncio
import html
import json
from http import HTTPStatus
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from replicate_simulator import gate, problems
from replicate_simulator.admin import admin_handlers
from replicate_simulator.engine import Engine
from replicate_simulator.faults import Operation
from replicate_simulator.files_api import file_handlers
from replicate_simulator.gate import bearer_token
from replicate_simulator.models import InputInvalid, InvalidField, ModelSpec
from replicate_simulator.problems import Problem
from replicate_simulator.reads import read_handlers
from replicate_simulator.state import Prediction

# Replicate takes uploads of up to 100 MiB.
MAX_BODY = 100 * 1024 * 1024


class RequestLog:
    """Records every `/v1` request with its token and final status."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self._app = app
        self._engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope["path"].startswith("/v1/"):
            await self._app(scope, receive, send)
            return
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, remember_status)
        finally:
            headers = dict(scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            self._engine.history.record_request(
                scope["method"], scope["path"], bearer_token(authorization), status
            )


def create_app(engine: Engine) -> ASGIApp:
    """The simulator's ASGI app: Litestar, wrapped so that every `/v1` request is logged."""

    async def admit(request: Request[Any, Any, Any], operation: Operation) -> tuple[str, str]:
        return await gate.admit(engine, request, operation)

    def json_body(raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError as error:
            raise problems.bad_request(f"Request body is not valid JSON: {error}") from error
        if not isinstance(body, dict):
            raise problems.bad_request("Request body must be a JSON object")
        return body

    async def start(
        request: Request[Any, Any, Any], model: ModelSpec, token: str, account: str, body: dict[str, Any]
    ) -> Response[Any]:
        try:
            prediction = engine.create(
                model,
                token,
                account,
                body.get("input", {}),
                body.get("webhook"),
                body.get("webhook_events_filter"),
            )
        except InputInvalid as invalid:
            raise problems.invalid_input(invalid.fields) from invalid
        wait = _prefer_wait(request.headers.get("prefer"))
        if wait is None:
            return _prediction_response(engine, prediction, 201)
        try:
            await asyncio.wait_for(prediction.finished.wait(), wait)
        except TimeoutError:
            # Like Replicate: when the wait runs out the prediction is answered as
            # `starting`, whatever it is doing, and the client polls it from there.
            body = prediction.to_json(engine.base_url)
            body["status"] = "starting"
            return Response(body, status_code=201)
        return _prediction_response(engine, prediction, 201)

    @post("/v1/models/{owner:str}/{name:str}/predictions")
    async def create_for_model(request: Request[Any, Any, Any]) -> Response[Any]:
        owner, name = request.path_params["owner"], request.path_params["name"]
        raw = await request.body()  # read before any injected delay: the client may give up
        token, account = await admit(request, "create")
        body = json_body(raw)
        model = engine.catalog.by_ref(f"{owner}/{name}")
        if model is None or not model.official:
            raise problems.not_found(
                f"Model {owner}/{name} not found, or it is not an official model: "
                "create its predictions with a version"
            )
        return await start(request, model, token, account, body)

    @post("/v1/predictions")
    async def create_for_version(request: Request[Any, Any, Any]) -> Response[Any]:
        raw = await request.body()  # read before any injected delay: the client may give up
        token, account = await admit(request, "create")
        body = json_body(raw)
        version = body.get("version")
        if not isinstance(version, str) or not version:
            raise problems.invalid_input(
                [InvalidField("required", "version", "version is required")]
            )
        model = engine.catalog.by_version(version)
        if model is None:
            raise problems.invalid_version()
        return await start(request, model, token, account, body)

    def owned(prediction_id: str, account: str) -> Prediction:
        prediction = engine.get(prediction_id, account)
        if prediction is None:
            raise problems.not_found()
        return prediction

    @get("/v1/predictions/{prediction_id:str}")
    async def get_prediction(request: Request[Any, Any, Any]) -> Response[Any]:
        prediction_id = request.path_params["prediction_id"]
        _, account = await admit(request, "get")
        return _prediction_response(engine, owned(prediction_id, account), 200)

    @post("/v1/predictions/{prediction_id:str}/cancel")
    async def cancel_prediction(request: Request[Any, Any, Any]) -> Response[Any]:
        prediction_id = request.path_params["prediction_id"]
        _, account = await admit(request, "cancel")
        prediction = owned(prediction_id, account)
        engine.cancel(prediction)
        return _prediction_response(engine, prediction, 200)

    @get("/v1/webhooks/default/secret")
    async def webhook_secret(request: Request[Any, Any, Any]) -> Response[Any]:
        _, account = await admit(request, "secret")
        return Response({"key": engine.accounts.secret_for_account(account)})

    @get("/files/{folder:str}/{name:str}")
    async def output_file(request: Request[Any, Any, Any]) -> Response[bytes]:
        stored = engine.files.get(f"{request.path_params['folder']}/{request.path_params['name']}")
        if stored is None:
            raise problems.not_found("File not found")
        return Response(stored.data, media_type=stored.content_type)

    @get("/p/{prediction_id:str}")
    async def web_page(request: Request[Any, Any, Any]) -> Response[str]:
        prediction = engine.get(request.path_params["prediction_id"])
        if prediction is None:
            raise problems.not_found()
        return Response(
            f"<h1>{html.escape(prediction.model.ref)}</h1><p>{html.escape(prediction.status)}</p>",
            media_type="text/html",
        )

    async def on_startup() -> None:
        await engine.startup()

    async def on_shutdown() -> None:
        await engine.shutdown()

    app = Litestar(
        route_handlers=[
            create_for_model,
            create_for_version,
            get_prediction,
            cancel_prediction,
            webhook_secret,
            output_file,
            web_page,
            *read_handlers(engine),
            *file_handlers(engine),
            *admin_handlers(engine),
        ],
        exception_handlers={
            Problem: lambda _, problem: problem.to_response(),
            HTTPException: _http_exception,
            Exception: _unexpected,
        },
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        openapi_config=None,
        logging_config=None,
        request_max_body_size=MAX_BODY,
    )
    return RequestLog(app, engine)


def _http_exception(_: Request[Any, Any, Any], error: HTTPException) -> Response[bytes]:
    if error.status_code in (404, 405):
        # Replicate answers a path it does not serve, whatever the method, with a 404.
        return problems.not_found().to_response()
    response = Problem(error.status_code, _title(error.status_code), str(error.detail)).to_response()
    response.headers.update(error.headers or {})
    return response


def _unexpected(_: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
    return Problem(500, "Internal Server Error", f"Simulator error: {error!r}").to_response()


def _title(status: int) -> str:
    return HTTPStatus(status).phrase


def _prediction_response(engine: Engine, prediction: Prediction, status: int) -> Response[Any]:
    return Response(prediction.to_json(engine.base_url), status_code=status)


def _prefer_wait(prefer: str | None) -> float | None:
    """Seconds to hold a create request for `Prefer: wait` (60) or `Prefer: wait=N` (1-60)."""
    if not prefer:
        return None
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return max(1.0, min(60.0, float(value))) if value else 60.0
            except ValueError:
                return 60.0
    return None
