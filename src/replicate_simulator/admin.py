"""Admin routes under `/_sim/`, so a test in another process can drive the simulator.

They need no token: the simulator is a loopback test tool.

    GET    /_sim/health                          {"ok": true, "base_url": ...}
    POST   /_sim/reset                           forget everything but the configuration
    GET    /_sim/faults                          active faults, with ids and uses left
    POST   /_sim/faults                          add one; body = Fault fields as JSON
    DELETE /_sim/faults[?token=T]                clear all, or those aimed at T
    DELETE /_sim/faults/{id}                     remove one
    GET    /_sim/tokens                          {token: account}
    POST   /_sim/tokens                          {"token", "account"?} -> with its secret
    GET    /_sim/secrets/{token}                 {"account", "key"}
    GET    /_sim/requests[?token=T]              the /v1 request log
    GET    /_sim/webhooks[?prediction_id=P]      every webhook delivery attempt
    GET    /_sim/settings, PATCH /_sim/settings  starting_delay, processing_delay, retention
    POST   /_sim/files?ext=png                   raw body -> {"url"} served under /files/
    GET    /_sim/predictions[?token=T]           every prediction, with token and account
    POST   /_sim/predictions/{id}/remove-data    expire its data now
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler

from replicate_simulator import problems
from replicate_simulator.engine import Engine
from replicate_simulator.faults import Fault


async def _json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as error:
        raise problems.bad_request(f"Request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise problems.bad_request("Request body must be a JSON object")
    return body


def _fault_json(fault_id: int, fault: Fault, remaining: int | None) -> dict[str, object]:
    return {"id": fault_id, "remaining": remaining, **fault.to_json()}


def admin_handlers(engine: Engine) -> list[HTTPRouteHandler]:
    @get("/_sim/health")
    async def health() -> dict[str, object]:
        return {"ok": True, "base_url": engine.base_url}

    @post("/_sim/reset", status_code=200)
    async def reset() -> dict[str, object]:
        engine.reset()
        return {"ok": True}

    @get("/_sim/faults")
    async def list_faults() -> list[dict[str, object]]:
        return [_fault_json(*armed) for armed in engine.faults.active()]

    @post("/_sim/faults")
    async def add_fault(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            fault = Fault.from_json(await _json(request))
        except (TypeError, ValueError) as error:
            raise problems.bad_request(str(error)) from error
        fault_id = engine.faults.add(fault)
        return Response(_fault_json(fault_id, fault, fault.times), status_code=201)

    @delete("/_sim/faults", status_code=200)
    async def clear_faults(request: Request[Any, Any, Any]) -> dict[str, object]:
        engine.faults.clear(request.query_params.get("token"))
        return {"ok": True}

    @delete("/_sim/faults/{fault_id:int}", status_code=200)
    async def remove_fault(request: Request[Any, Any, Any]) -> dict[str, object]:
        engine.faults.remove(request.path_params["fault_id"])
        return {"ok": True}

    @get("/_sim/tokens")
    async def list_tokens() -> dict[str, str]:
        return engine.accounts.tokens()

    @post("/_sim/tokens")
    async def add_token(request: Request[Any, Any, Any]) -> Response[Any]:
        body = await _json(request)
        token, account = body.get("token"), body.get("account")
        if not isinstance(token, str) or not token or not isinstance(account, (str, type(None))):
            raise problems.bad_request("token (string) is required; account is an optional string")
        account = engine.accounts.add_token(token, account)
        secret = engine.accounts.secret_for_account(account)
        return Response({"token": token, "account": account, "secret": secret}, status_code=201)

    @get("/_sim/secrets/{token:str}")
    async def secret_for_token(request: Request[Any, Any, Any]) -> dict[str, str]:
        token = request.path_params["token"]
        account = engine.accounts.account_for(token)
        if account is None:
            raise problems.not_found(f"Unknown token {token}")
        return {"account": account, "key": engine.accounts.secret_for_account(account)}

    @get("/_sim/requests")
    async def request_log(request: Request[Any, Any, Any]) -> list[dict[str, object]]:
        token = request.query_params.get("token")
        return [r.to_json() for r in engine.history.requests(token)]

    @get("/_sim/webhooks")
    async def webhook_log(request: Request[Any, Any, Any]) -> list[dict[str, object]]:
        prediction_id = request.query_params.get("prediction_id")
        return [w.to_json() for w in engine.history.webhooks(prediction_id)]

    @get("/_sim/settings")
    async def get_settings() -> dict[str, float | None]:
        return engine.settings.to_json()

    @patch("/_sim/settings")
    async def change_settings(request: Request[Any, Any, Any]) -> dict[str, float | None]:
        try:
            engine.settings.update(await _json(request))
        except ValueError as error:
            raise problems.bad_request(str(error)) from error
        return engine.settings.to_json()

    @post("/_sim/files")
    async def upload(request: Request[Any, Any, Any]) -> Response[Any]:
        ext = request.query_params.get("ext", "png")
        if not ext.isalnum():
            raise problems.bad_request("ext must be alphanumeric")
        url = engine.upload(await request.body(), ext.lower())
        return Response({"url": url}, status_code=201)

    @get("/_sim/predictions")
    async def list_predictions(request: Request[Any, Any, Any]) -> list[dict[str, object]]:
        token = request.query_params.get("token")
        return [
            {**p.to_json(engine.base_url), "token": p.token, "account": p.account}
            for p in engine.predictions()
            if token is None or p.token == token
        ]

    @post("/_sim/predictions/{prediction_id:str}/remove-data", status_code=200)
    async def remove_data(request: Request[Any, Any, Any]) -> dict[str, object]:
        prediction_id = request.path_params["prediction_id"]
        if engine.get(prediction_id) is None:
            raise problems.not_found()
        engine.remove_data(prediction_id)
        return {"ok": True}

    return [
        health,
        reset,
        list_faults,
        add_fault,
        clear_faults,
        remove_fault,
        list_tokens,
        add_token,
        secret_for_token,
        request_log,
        webhook_log,
        get_settings,
        change_settings,
        upload,
        list_predictions,
        remove_data,
    ]
