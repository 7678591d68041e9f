"""What handlers receive through Litestar's DI: the services, the studio, the caller."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler

from base_core import Identity, Studio
from base_core.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from base_core.text import is_line
from entrypoints.bootstrap import Services
from entrypoints.http.schemas import KeyLinks
from entrypoints.logs import bind_user

BEARER = "bearer"

# Handlers name what they need with these; Litestar resolves each through its Provide.
ServicesDep = NamedDependency[Services]
StudioDep = NamedDependency[Studio]
CallerDep = NamedDependency[Identity]


def provide_services(state: State) -> Services:
    services = state.get("services")
    if services is None:
        raise RuntimeError("the app was started without its services")
    return services  # type: ignore[no-any-return]


def provide_studio(services: ServicesDep) -> Studio:
    return services.studio


async def verified_caller(connection: ASGIConnection[Any, Any, Any, Any]) -> Identity:
    """The caller behind the bearer token, verified once per request (a guard and the
    handler's `caller` share it); a user seen for the first time gets the initial credits."""
    known = connection.state.get("caller")
    if isinstance(known, Identity):
        return known
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != BEARER or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token>")
    services = provide_services(connection.app.state)
    identity = await services.bearer.verify(token.strip())
    bind_user(identity.user_id)
    await services.studio.admit(identity.user_id, identity.email)
    connection.state.caller = identity
    return identity


async def provide_caller(request: Request[Any, Any, Any]) -> Identity:
    return await verified_caller(request)


async def admins_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The guard of the operators' routes: a signed-in administrator, or 401/403."""
    caller = await verified_caller(connection)
    if not provide_services(connection.app.state).studio.is_admin(caller.user_id):
        raise Forbidden("administrators only")


MAX_ID_LENGTH = 200
BodyT = TypeVar("BodyT", bound=msgspec.Struct)


def path_id(what: str, raw: str) -> str:
    """An id from the path, when it could name a stored row at all.

    Anything else is a 404 without asking the database (PostgreSQL refuses a NUL in a
    query parameter, which would otherwise surface as a 503).
    """
    if not raw or len(raw) > MAX_ID_LENGTH or not is_line(raw):
        raise NotFound(what, raw[:64])
    return raw


def provide_key_links(request: Request[Any, Any, Any], services: ServicesDep) -> KeyLinks:
    """URLs of stored copies for this answer: built from their keys and the current public
    base (BASE_OUTPUT_URL, BASE_PUBLIC_URL, else the address the request came to)."""
    links = services.links
    base = str(request.base_url).rstrip("/")
    if links is None:
        return lambda keys: [f"{base}/outputs/{key}" for key in keys]
    return lambda keys: links.urls(keys, base)


KeyLinksDep = NamedDependency[KeyLinks]

BASE_DEPENDENCIES = {
    "services": Provide(provide_services, sync_to_thread=False),
    "studio": Provide(provide_studio, sync_to_thread=False),
    "key_links": Provide(provide_key_links, sync_to_thread=False),
}
CALLER = {"caller": Provide(provide_caller)}
SECURITY: list[dict[str, list[str]]] = [{"BearerAuth": []}]


async def exactly(request: Request[Any, Any, Any], data: BodyT) -> BodyT:
    """The body `data` was read from, converted again to its type, strictly.

    Litestar converts every parameter in msgspec's lax mode (query strings have no types),
    bodies included, so `"force": 0` would pass as false and `"amount": "5"` as 5. JSON has
    types, and the document promises them: the body is converted here from the JSON
    Litestar already parsed and kept, and a mismatch is a 400 naming the field. A number
    with no fraction (`2.0`) is an integer, as JSON Schema counts them.
    """
    try:
        return msgspec.convert(_integral(await request.json()), type(data), strict=True)
    except msgspec.ValidationError as error:
        reason, _, where = str(error).partition(" - at `$.")
        raise InvalidRequest(where.split("`", 1)[0] if where else "body", reason) from None


def _integral(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value
