"""What operators' tooling calls: /metrics, /health/live, /health/ready; and the
middleware that gives every request an id, a line in the access log and its metrics.

/metrics on the API answers only with `Authorization: Bearer <BASE_METRICS_TOKEN>`; with
no token configured it does not exist here (404), and BASE_METRICS_BIND serves it on a
listener of its own instead. It is never public by default.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from base_core.errors import NotFound, Unauthenticated
from entrypoints.bootstrap import Services
from entrypoints.http.dependencies import ServicesDep
from entrypoints.logs import REQUEST_ID_HEADER, begin_request, end_request, request_id_from

UNMATCHED_ROUTE = "unmatched"


def request_context(app: ASGIApp) -> ASGIApp:
    """Every HTTP request gets an id (the caller's valid X-Request-Id, else a new one),
    returned in the response and put on every log line written while serving it; its
    route template, status and duration go to the metrics."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        supplied = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = request_id_from(supplied)
        token = begin_request(request_id)
        started = time.perf_counter()
        status = 500

        async def respond(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, respond)
        finally:
            _observe(scope, status, time.perf_counter() - started)
            end_request(token)

    return middleware


async def stamp_unrouted(message: Message, scope: Scope) -> None:
    """The request id and the request count for what no route took (404, 405): Litestar
    answers those before any middleware runs, so this `before_send` hook does it."""
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    headers = MutableScopeHeaders.from_message(message)
    if "x-request-id" in headers:
        return  # the middleware saw this request
    headers["x-request-id"] = request_id_from(_header(scope, REQUEST_ID_HEADER.encode()))
    app = scope.get("app")
    services = app.state.get("services") if app is not None else None
    ops = getattr(services, "ops", None)
    if ops is not None:
        ops.metrics.http_requests.labels(scope["method"], UNMATCHED_ROUTE, str(message["status"])).inc()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            try:
                return bytes(value).decode("ascii")
            except UnicodeDecodeError:
                return None
    return None


def _observe(scope: Scope, status: int, seconds: float) -> None:
    if scope["type"] != ScopeType.HTTP:
        return
    app = scope.get("app")
    services = app.state.get("services") if app is not None else None
    ops = getattr(services, "ops", None)
    if ops is None:
        return
    route = scope.get("path_template") or UNMATCHED_ROUTE
    ops.metrics.observe_request(scope["method"], route, status, seconds)


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    ops = services.ops
    if ops is None or ops.metrics_token is None:
        raise NotFound("route", "/metrics")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), ops.metrics_token.encode()
    ):
        raise Unauthenticated("send Authorization: Bearer <BASE_METRICS_TOKEN>")
    await ops.metrics.refresh()
    return Response(generate_latest(ops.metrics.registry), media_type=CONTENT_TYPE_LATEST)


class Liveness(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str  # "ready" or "not ready"
    checks: dict[str, str]  # each check: "ok" or what is wrong


@get("/health/live", tags=["system"], summary="The process answers")
async def health_live() -> Liveness:
    return Liveness(status="ok")


@get(
    "/health/ready",
    tags=["system"],
    summary="Ready for traffic: database, schema, a usable token, the background loop",
    description="503 with the failing checks named when not ready.",
)
async def health_ready(services: ServicesDep) -> Response[Readiness]:
    checks = await readiness_checks(services)
    ready = all(value == "ok" for value in checks.values())
    return Response(
        Readiness(status="ready" if ready else "not ready", checks=checks),
        status_code=200 if ready else 503,
    )


async def readiness_checks(services: Services) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        await services.ping()
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure is "not ready", named
        checks["database"] = "the database does not answer"
    ops = services.ops
    if checks["database"] == "ok":
        try:
            problem = await ops.schema() if ops is not None else None
            checks["migrations"] = problem or "ok"
        except Exception:  # noqa: BLE001 - as above
            checks["migrations"] = "the schema could not be read"
        try:
            vitals = await services.studio.vitals()
            checks["tokens"] = "ok" if vitals.has_usable_token else (
                f"no usable Replicate token ({vitals.tokens_cooling} cooling, "
                f"{vitals.tokens_retired} retired)"
            )
        except Exception:  # noqa: BLE001 - as above
            checks["tokens"] = "the token pool could not be read"
    else:
        checks["migrations"] = checks["tokens"] = "unknown: the database does not answer"
    poller = ops.poller if ops is not None else None
    checks["background"] = "ok" if poller is not None and poller.running else "the background loop is not running"
    return checks


OPERATIONS_ROUTES = [metrics_endpoint, health_live, health_ready]

__all__ = ["OPERATIONS_ROUTES", "readiness_checks", "request_context", "stamp_unrouted"]
