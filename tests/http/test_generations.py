"""Generations over HTTP: create, read, list (pagination, filters), delete, and their errors."""

from __future__ import annotations

import re
import uuid

import pytest
from http_helpers import CREATE_BODY

from base_core.errors import ProviderInputRejected

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
GENERATION_FIELDS = {
    "id", "user_id", "action", "model_id", "model_name", "prompt", "input_image_url", "settings",
    "status", "prediction_id", "output_urls", "error_message", "cost", "processing_time_ms",
    "created_at", "completed_at",
}


def user() -> str:
    return str(uuid.uuid4())


async def create(api, user_id: str, body: dict | None = None, **headers: str):
    return await api.client.post(
        "/api/generations/create", json=body or CREATE_BODY, headers={**api.auth(user_id), **headers}
    )


async def test_create_answers_201_with_the_seed_shape(api):
    response = await create(api, user())
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "prediction_id", "status"}
    assert body["status"] == "processing"
    assert body["prediction_id"].startswith("fake")


async def test_read_shows_every_field_with_iso_dates(api):
    alice = user()
    created = (await create(api, alice)).json()
    api.inference.complete(created["prediction_id"], predict_time=5.23)
    await api.studio.refresh(created["id"])
    response = await api.client.get(f"/api/generations/{created['id']}", headers=api.auth(alice))
    assert response.status_code == 200
    generation = response.json()
    assert set(generation) == GENERATION_FIELDS
    assert generation["status"] == "completed"
    assert generation["user_id"] == alice
    assert generation["model_name"] == "flux-schnell"
    assert generation["processing_time_ms"] == 5230
    assert generation["output_urls"] and generation["output_urls"][0].startswith("https://")
    assert generation["cost"] == 1
    assert generation["settings"]["aspect_ratio"] == "16:9"
    assert ISO_Z.match(generation["created_at"]) and ISO_Z.match(generation["completed_at"])


async def test_processing_generation_has_null_outputs(api):
    alice = user()
    created = (await create(api, alice)).json()
    generation = (await api.client.get(f"/api/generations/{created['id']}", headers=api.auth(alice))).json()
    assert generation["status"] == "processing"
    assert generation["output_urls"] is None and generation["completed_at"] is None


async def test_another_users_generation_is_not_found(api):
    alice, bob = user(), user()
    created = (await create(api, alice)).json()
    path = f"/api/generations/{created['id']}"
    assert (await api.client.get(path, headers=api.auth(bob))).status_code == 404
    assert (await api.client.delete(path, headers=api.auth(bob))).status_code == 404
    listed = (await api.client.get("/api/generations/list", headers=api.auth(bob))).json()
    assert listed["total"] == 0 and listed["generations"] == []
    assert (await api.client.get(path, headers=api.auth(alice))).status_code == 200


async def _finish_many(api, user_id: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        created = (await create(api, user_id)).json()
        api.inference.complete(created["prediction_id"])
        await api.studio.refresh(created["id"])
        ids.append(created["id"])
    return ids


async def test_pagination_math(api):
    alice = user()
    ids = await _finish_many(api, alice, 5)
    headers = api.auth(alice)
    first = (await api.client.get("/api/generations/list?limit=2", headers=headers)).json()
    assert (first["total"], first["page"], first["limit"], first["totalPages"]) == (5, 1, 2, 3)
    assert [g["id"] for g in first["generations"]] == ids[::-1][:2]  # newest first
    last = (await api.client.get("/api/generations/list?limit=2&page=3", headers=headers)).json()
    assert [g["id"] for g in last["generations"]] == [ids[0]]
    beyond = (await api.client.get("/api/generations/list?limit=2&page=9", headers=headers)).json()
    assert beyond["generations"] == [] and beyond["total"] == 5 and beyond["totalPages"] == 3
    default = (await api.client.get("/api/generations/list", headers=headers)).json()
    assert (default["page"], default["limit"], default["totalPages"]) == (1, 20, 1)


async def test_empty_list_has_zero_pages(api):
    body = (await api.client.get("/api/generations/list", headers=api.auth(user()))).json()
    assert body == {"generations": [], "total": 0, "page": 1, "limit": 20, "totalPages": 0}


async def test_filters_by_status_and_action(api):
    alice = user()
    await _finish_many(api, alice, 2)
    await create(api, alice)  # still processing
    headers = api.auth(alice)
    done = (await api.client.get("/api/generations/list?status=completed", headers=headers)).json()
    assert done["total"] == 2 and {g["status"] for g in done["generations"]} == {"completed"}
    running = (await api.client.get("/api/generations/list?status=processing", headers=headers)).json()
    assert running["total"] == 1
    creates = (await api.client.get("/api/generations/list?action=create", headers=headers)).json()
    assert creates["total"] == 3
    upscales = (await api.client.get("/api/generations/list?action=upscale", headers=headers)).json()
    assert upscales["total"] == 0


@pytest.mark.parametrize(
    "query, field",
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=1.5", "limit"),
        ("status=done", "status"),
        ("action=paint", "action"),
    ],
)
async def test_bad_list_parameters_are_400_naming_the_field(api, query, field):
    response = await api.client.get(f"/api/generations/list?{query}", headers=api.auth(user()))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


async def test_delete_cancels_refunds_and_hides(api):
    alice = user()
    created = (await create(api, alice)).json()
    me = (await api.client.get("/api/me", headers=api.auth(alice))).json()
    assert me["user"]["credits"] == 99  # held
    path = f"/api/generations/{created['id']}"
    response = await api.client.delete(path, headers=api.auth(alice))
    assert response.status_code == 200 and response.json() == {"success": True}
    assert api.inference.predictions[created["prediction_id"]].status == "canceled"
    assert (await api.client.get(path, headers=api.auth(alice))).status_code == 404
    assert (await api.client.delete(path, headers=api.auth(alice))).status_code == 404
    me = (await api.client.get("/api/me", headers=api.auth(alice))).json()
    assert me["user"]["credits"] == 100


@pytest.mark.parametrize(
    "body, field",
    [
        ({**CREATE_BODY, "model_id": "nope"}, "model_id"),
        ({**CREATE_BODY, "action": "paint"}, "action"),
        ({**CREATE_BODY, "settings": {"num_outputs": 9}}, "settings.num_outputs"),
        ({**CREATE_BODY, "settings": {"colour": "red"}}, "settings.colour"),
        ({k: v for k, v in CREATE_BODY.items() if k != "prompt"}, "prompt"),
        ({**CREATE_BODY, "action": 5}, "action"),
        ({k: v for k, v in CREATE_BODY.items() if k != "model_id"}, "model_id"),
        ({"action": "upscale", "model_id": "real-esrgan", "input_image_url": "http://127.0.0.1/x.png"},
         "input_image_url"),
    ],
)
async def test_invalid_create_is_400_naming_the_field(api, body, field):
    response = await create(api, user(), body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["field"] == field
    assert problem["status"] == 400 and problem["title"] and problem["type"]


async def test_malformed_json_is_400(api):
    response = await api.client.post(
        "/api/generations/create", content=b"{not json", headers={**api.auth(user()), "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_not_enough_credits_is_402_with_amounts(api):
    alice = user()
    await api.client.get("/api/me", headers=api.auth(alice))
    await api.studio.adjust_credits(alice, -99, "test")
    body = {**CREATE_BODY, "settings": {"num_outputs": 2}}
    response = await create(api, alice, body)
    assert response.status_code == 402
    problem = response.json()
    assert (problem["needed"], problem["available"]) == (2, 1)


async def test_too_many_in_flight_is_429_with_retry_after(api):
    alice = user()
    for _ in range(3):
        assert (await create(api, alice)).status_code == 201
    response = await create(api, alice)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["retry_after"] >= 1


async def test_no_token_is_503_and_credits_untouched(api):
    stats = await api.studio.token_stats()
    for token in stats.tokens:
        await api.studio.set_token_active(token.id, False)
    alice = user()
    response = await create(api, alice)
    assert response.status_code == 503
    assert "retry-after" in response.headers
    me = (await api.client.get("/api/me", headers=api.auth(alice))).json()
    assert me["user"]["credits"] == 100


async def test_replicate_refusing_the_input_is_422(api):
    api.inference.fail_next(ProviderInputRejected({"prompt": "bad"}))
    response = await create(api, user())
    assert response.status_code == 422
    assert response.json()["field"] == "prompt"


async def test_idempotency_key_replays_and_conflicts(api):
    alice = user()
    first = await create(api, alice, None, **{"Idempotency-Key": "k-1"})
    again = await create(api, alice, None, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = {**CREATE_BODY, "prompt": "something else"}
    conflict = await create(api, alice, other, **{"Idempotency-Key": "k-1"})
    assert conflict.status_code == 409
    listed = (await api.client.get("/api/generations/list", headers=api.auth(alice))).json()
    assert listed["total"] == 1


async def test_body_over_the_limit_is_413(api):
    body = {**CREATE_BODY, "prompt": "x" * 70_000}
    response = await create(api, user(), body)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_unexpected_errors_are_500_without_internals(api, monkeypatch):
    async def explode(*args, **kwargs):
        raise RuntimeError("secret internals: postgres://user:pw@db")

    monkeypatch.setattr(api.studio, "generations", explode)
    response = await api.client.get("/api/generations/list", headers=api.auth(user()))
    assert response.status_code == 500
    assert "secret" not in response.text and "postgres" not in response.text
    assert response.json()["status"] == 500
