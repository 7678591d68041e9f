"""Problem details: Litestar's plugin renders them, titles are the HTTP status phrases."""

from __future__ import annotations

from http import HTTPStatus

from litestar.plugins.problem_details import ProblemDetailsPlugin

from base_core.errors import InsufficientCredits, InvalidRequest, Unauthenticated
from entrypoints.http.problems import to_exception


async def test_the_app_renders_problems_through_litestars_plugin(api):
    assert any(isinstance(plugin, ProblemDetailsPlugin) for plugin in api.client.app.plugins)
    for path, status in [("/api/me", 401), ("/api/nothing-here", 404)]:
        response = await api.client.get(path)
        problem = response.json()
        assert response.status_code == problem["status"] == status
        assert problem["title"] == HTTPStatus(status).phrase
        assert problem["type"] == f"https://httpstatuses.io/{status}"
    wrong = await api.client.put("/api/models/list")
    assert wrong.json()["title"] == HTTPStatus.METHOD_NOT_ALLOWED.phrase
    assert "allow" in {name.lower() for name in wrong.headers}  # Litestar's own header survives


def test_the_core_errors_carry_their_fields_and_headers() -> None:
    poor = to_exception(InsufficientCredits(needed=5, available=2))
    assert (poor.status_code, poor.title, poor.extra) == (402, "Payment Required", {"needed": 5, "available": 2})
    invalid = to_exception(InvalidRequest("prompt", "is required"))
    assert invalid.status_code == 400 and invalid.extra == {"field": "prompt"}
    anonymous = to_exception(Unauthenticated("no token"))
    assert anonymous.headers == {"WWW-Authenticate": 'Bearer realm="base"'} and anonymous.extra is None
    crashed = to_exception(RuntimeError("secret detail"))
    assert crashed.status_code == 500 and "secret" not in crashed.detail
