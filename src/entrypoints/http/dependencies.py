"""What handlers receive through Litestar's DI: the services, the studio, the caller."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from base_core import Identity, Studio
from base_core.errors import Forbidden, NotFound, Unauthenticated
from entrypoints.bootstrap import Services

BEARER = "bearer"

# Handlers name what they need with these; Litestar resolves each through its Provide.
ServicesDep = NamedDependency[Services]
StudioDep = NamedDependency[Studio]
CallerDep = NamedDependency[Identity]
AdminDep = NamedDependency[Identity]


def provide_services(state: State) -> Services:
    services = state.get("services")
    if services is None:
        raise RuntimeError("the app was started without its services")
    return services  # type: ignore[no-any-return]


def provide_studio(services: ServicesDep) -> Studio:
    return services.studio


async def provide_caller(request: Request[Any, Any, Any], services: ServicesDep) -> Identity:
    """The verified caller; a user seen for the first time gets the initial credits."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != BEARER or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token>")
    identity = await services.bearer.verify(token.strip())
    await services.studio.admit(identity.user_id, identity.email)
    return identity


async def provide_admin(caller: CallerDep, studio: StudioDep) -> Identity:
    if not studio.is_admin(caller.user_id):
        raise Forbidden("administrators only")
    return caller


MAX_ID_LENGTH = 200


def path_id(what: str, raw: str) -> str:
    """An id from the path, when it could name a stored row at all.

    Anything else is a 404 without asking the database (PostgreSQL refuses a NUL in a
    query parameter, which would otherwise surface as a 503).
    """
    if not raw or len(raw) > MAX_ID_LENGTH or not raw.isprintable():
        raise NotFound(what, raw[:64])
    return raw


BASE_DEPENDENCIES = {
    "services": Provide(provide_services, sync_to_thread=False),
    "studio": Provide(provide_studio, sync_to_thread=False),
}
CALLER = {"caller": Provide(provide_caller)}
ADMIN = {"caller": Provide(provide_caller), "admin": Provide(provide_admin)}
SECURITY: list[dict[str, list[str]]] = [{"BearerAuth": []}]
