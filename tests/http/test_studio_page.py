"""The studio's page and files as the API serves them: security headers, no inline script,
the config the page reads, and no token handed out outside `base demo`."""

from __future__ import annotations

import re
from importlib import resources

import attrs
from http_helpers import ADMIN_ID, Api, build_services
from litestar.testing import AsyncTestClient

from adapters.memory import MemoryStore
from adapters.system import SystemClock
from base_testing import FakeInference
from entrypoints.http import create_app
from entrypoints.http.studio import FEATURE_ROUTES, demo_session_route
from entrypoints.settings import Settings

STUDIO_FILES = sorted(
    f.name for f in resources.files("entrypoints.studio").iterdir() if f.name.endswith((".js", ".css", ".svg"))
)


async def test_the_page_is_served_with_a_strict_policy(api: Api):
    response = await api.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self' https://telegram.org/js/telegram-web-app.js"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"].split() == [
        "'self'", "https://web.telegram.org", "https://webk.telegram.org", "https://webz.telegram.org"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_the_page_has_no_inline_script_or_style(api: Api):
    html = (await api.client.get("/")).text
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.DOTALL)
    assert scripts and all(body.strip() == "" for body in scripts)
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/studio/app.js">']
    assert "<style" not in html and not re.search(r"\son[a-z]+=", html) and " style=" not in html


async def test_every_file_is_served_with_its_type_and_nothing_else_is(api: Api):
    assert "app.js" in STUDIO_FILES and "studio.css" in STUDIO_FILES
    for name in STUDIO_FILES:
        response = await api.client.get(f"/studio/{name}")
        assert response.status_code == 200, name
        expected = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[name.rsplit(".", 1)[1]]
        assert response.headers["content-type"].startswith(expected)
        assert response.headers["x-content-type-options"] == "nosniff"
    for probe in ("__init__.py", "index.html", "..%2F__init__.py", ".hidden.js", "missing.js", "%2e%2e%2fstudio.py"):
        assert (await api.client.get(f"/studio/{probe}")).status_code == 404, probe


async def test_the_modules_never_write_html():
    """Text reaches the page as text nodes and attributes only."""
    for name in STUDIO_FILES:
        if name.endswith(".js"):
            source = resources.files("entrypoints.studio").joinpath(name).read_text()
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
                assert sink not in source, f"{name} uses {sink}"


async def test_the_config_says_what_this_server_offers(api: Api):
    response = await api.client.get("/studio/config.json")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    config = response.json()
    assert config["telegram"] is True and config["demo"] is False and config["supabase"] is None
    assert set(config["features"]) == set(FEATURE_ROUTES)
    paths = {route.path for route in api.client.app.routes}
    assert config["features"] == {name: path in paths for name, path in FEATURE_ROUTES.items()}


async def test_the_supabase_sign_in_is_offered_with_the_public_key_only():
    services, _ = build_services(MemoryStore(), FakeInference(SystemClock()), _ec_key())
    settings = Settings(database_url="memory://", supabase_url="https://ref.supabase.co",
                        supabase_anon_key="public-anon-key", supabase_jwt_secret="s" * 40)
    services = attrs.evolve(services, settings=settings)
    async with AsyncTestClient(app=create_app(services)) as client:
        config = (await client.get("/studio/config.json")).json()
        assert config["supabase"] == {"url": "https://ref.supabase.co", "anon_key": "public-anon-key"}
        assert "s" * 40 not in (await client.get("/studio/config.json")).text
        policy = (await client.get("/")).headers["content-security-policy"]
        assert "connect-src 'self' https://ref.supabase.co" in policy


async def test_base_serve_has_no_route_that_hands_out_a_token(api: Api):
    assert (await api.client.get("/studio/demo-session")).status_code == 404
    schema = (await api.client.get("/schema/openapi.json")).json()
    assert not [p for p in schema["paths"] if p == "/" or p.startswith("/studio")]


async def test_the_demo_session_is_refused_to_anyone_but_this_machine():
    services, _ = build_services(MemoryStore(), FakeInference(SystemClock()), _ec_key())
    app = create_app(services, extra_routes=[demo_session_route("demo-user")])
    async with AsyncTestClient(app=app) as client:  # the test client is not a loopback peer
        assert (await client.get("/studio/demo-session")).status_code == 403
        assert (await client.get("/studio/config.json")).json()["demo"] is True


async def test_me_says_whether_the_caller_is_an_admin(api: Api):
    mine = await api.client.get("/api/me", headers=api.auth())
    assert mine.json()["is_admin"] is False
    admin = await api.client.get("/api/me", headers=api.admin())
    assert admin.json()["is_admin"] is True and admin.json()["user"]["id"] == ADMIN_ID


def _ec_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())
