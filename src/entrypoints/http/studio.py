"""The studio: the single-page web app (also the Telegram Mini App) at `/`.

The page and its ES modules are package data (`entrypoints/studio`), read once and served
with a strict Content-Security-Policy. `GET /studio/config.json` tells the page what this
server offers (sign-in methods, and which optional endpoints exist), so it never probes
for them. The demo's sign-in route is not here: `base demo` adds it (`demo_session_route`),
so `base serve` has no route that hands out a token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath

from base_core.errors import Forbidden, NotFound
from entrypoints.bootstrap import Services
from entrypoints.http.dependencies import ServicesDep

STUDIO_PACKAGE = "entrypoints.studio"
ASSET_PREFIX = "/studio"
DEMO_SESSION_PATH = "/studio/demo-session"
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
# The web clients a Mini App runs in, framed (Telegram Web K and A, and the legacy one).
TELEGRAM_FRAME_ANCESTORS = (
    "https://web.telegram.org",
    "https://webk.telegram.org",
    "https://webz.telegram.org",
)
MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Optional endpoints the page adapts to: present on this server or not.
FEATURE_ROUTES = {
    "events": "/api/generations/events",
    "uploads": "/api/uploads",
    "packs": "/api/credits/packs",
    "purchase": "/api/credits/purchase",
    "credit_history": "/api/credits/history",
    "admin_purchases": "/api/admin/purchases",
}


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(connect: Iterable[str | None] = (), images: Iterable[str | None] = ()) -> str:
    """No inline script or style, nothing from elsewhere but Telegram's script, images from
    here or any https host (results may still sit at Replicate), framed only by Telegram."""
    connect_src = " ".join(["'self'", *sorted({o for o in connect if o})])
    img_src = " ".join(["'self'", "data:", "blob:", "https:", *sorted({o for o in images if o})])
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' {TELEGRAM_SCRIPT}",
        "style-src 'self'",
        f"img-src {img_src}",
        f"connect-src {connect_src}",
        "font-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'self' " + " ".join(TELEGRAM_FRAME_ANCESTORS),
    ])


def security_headers(services: Services) -> dict[str, str]:
    settings = services.settings
    policy = content_security_policy(
        connect=[_origin(settings.supabase_url) if settings else None],
        # Results sit at Replicate until copied: its own origin too (a local simulator's is http).
        images=[_origin(settings.outputs_base_url), _origin(settings.replicate_base_url)] if settings else [],
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


@cache
def _asset(name: str) -> bytes | None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in MEDIA_TYPES or suffix == ".html":
        return None
    path = resources.files(STUDIO_PACKAGE).joinpath(name)
    return path.read_bytes() if path.is_file() else None


@cache
def _page() -> bytes:
    return resources.files(STUDIO_PACKAGE).joinpath("index.html").read_bytes()


@get("/", include_in_schema=False)
async def studio_page(services: ServicesDep) -> Response[bytes]:
    headers = security_headers(services) | {"Cache-Control": "no-cache"}
    return Response(_page(), media_type=MEDIA_TYPES[".html"], headers=headers)


@get(ASSET_PREFIX + "/{name:str}", include_in_schema=False)
async def studio_asset(name: FromPath[str], services: ServicesDep) -> Response[bytes]:
    content = _asset(name)
    if content is None:
        raise NotFound("studio file", name[:64])
    headers = security_headers(services) | {"Cache-Control": "no-cache"}
    return Response(content, media_type=MEDIA_TYPES["." + name.rsplit(".", 1)[-1]], headers=headers)


class SupabaseConfig(msgspec.Struct):
    url: str
    anon_key: str


class StudioConfig(msgspec.Struct):
    """What the page needs to know before signing in; nothing secret."""

    telegram: bool
    supabase: SupabaseConfig | None
    demo: bool
    features: dict[str, bool]


def _route_paths(request: Request[Any, Any, Any]) -> set[str]:
    return {route.path for route in request.app.routes}


@get("/studio/config.json", include_in_schema=False)
async def studio_config(request: Request[Any, Any, Any], services: ServicesDep) -> Response[StudioConfig]:
    settings = services.settings
    paths = _route_paths(request)
    supabase = None
    if settings is not None and settings.supabase_url and settings.supabase_anon_key:
        supabase = SupabaseConfig(url=settings.supabase_url, anon_key=settings.supabase_anon_key)
    body = StudioConfig(
        telegram=services.telegram is not None,
        supabase=supabase,
        demo=DEMO_SESSION_PATH in paths,
        features={name: path in paths for name, path in FEATURE_ROUTES.items()},
    )
    return Response(body, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


class DemoSession(msgspec.Struct):
    user_id: str
    session_token: str


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def demo_session_route(user_id: str) -> Callable[..., Any]:
    """`GET /studio/demo-session` for `base demo` only: the demo user's session token.

    Only for a request from this machine, naming this machine as its host (a page on
    another site that rebinds its name to 127.0.0.1 is refused), and not from another
    site's page (`Sec-Fetch-Site`). Never cached.
    """

    @get(DEMO_SESSION_PATH, include_in_schema=False)
    async def demo_session(request: Request[Any, Any, Any], services: ServicesDep) -> Response[DemoSession]:
        client = request.client.host if request.client else None
        host = urlsplit("//" + request.headers.get("host", "")).hostname
        site = request.headers.get("sec-fetch-site", "same-origin")
        if not _is_loopback(client) or not _is_loopback(host) or site not in ("same-origin", "none"):
            raise Forbidden("the demo session is handed out to this machine's own page only")
        token = services.sessions.issue(user_id)
        return Response(
            DemoSession(user_id=user_id, session_token=token),
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    return demo_session


STUDIO_ROUTES = [studio_page, studio_asset, studio_config]

__all__ = ["STUDIO_ROUTES", "content_security_policy", "demo_session_route"]
