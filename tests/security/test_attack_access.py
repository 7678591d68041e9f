"""Attacks on other users' data and on the admin routes; each test fails if the attack works."""

from __future__ import annotations

import uuid

import pytest
from security_support import ADMIN_ID, REPLICATE_TOKEN, Api

ADMIN_ROUTES = [
    ("GET", "/api/admin/tokens/stats", None),
    ("POST", "/api/admin/tokens", {"token": "r8_attacker_token_000000000001", "label": "mine"}),
    ("PATCH", "/api/admin/tokens/{token_id}", {"is_active": False}),
    ("POST", "/api/admin/credits", {"user_id": "{self}", "amount": 1_000_000, "reason": "free"}),
]


def someone() -> str:
    return str(uuid.uuid4())


async def test_another_users_generation_cannot_be_read_listed_deleted_or_cancelled(any_api: Api):
    alice, mallory = someone(), someone()
    created = await any_api.create(alice)
    path = f"/api/generations/{created['id']}"
    mallory_auth = any_api.auth(mallory)
    cancels_before = [c for c in any_api.inference.calls if c[0] == "cancel"]

    read = await any_api.client.get(path, headers=mallory_auth)
    assert read.status_code == 404
    assert alice not in read.text and created["prediction_id"] not in read.text

    listed = (await any_api.client.get("/api/generations/list", headers=mallory_auth)).json()
    assert listed["total"] == 0 and listed["generations"] == []
    for query in ("?status=processing", "?action=create", "?page=1&limit=100"):
        page = (await any_api.client.get(f"/api/generations/list{query}", headers=mallory_auth)).json()
        assert page["generations"] == []

    deleted = await any_api.client.delete(path, headers=mallory_auth)
    assert deleted.status_code == 404
    assert [c for c in any_api.inference.calls if c[0] == "cancel"] == cancels_before

    # Alice's generation is untouched: still running, still hers, her hold still in place.
    mine = await any_api.client.get(path, headers=any_api.auth(alice))
    assert mine.status_code == 200 and mine.json()["status"] == "processing"
    assert await any_api.credits(alice) == 99
    assert await any_api.credits(mallory) == 100


async def test_the_user_id_comes_only_from_the_verified_token(api: Api):
    """Query parameters, body fields and headers naming another user are not honoured."""
    alice, mallory = someone(), someone()
    created = await api.create(alice)
    for query in (f"?user_id={alice}", f"?userId={alice}", f"?user={alice}"):
        page = await api.client.get(f"/api/generations/list{query}", headers=api.auth(mallory))
        assert page.status_code in (200, 400)
        assert created["id"] not in page.text
    body = {**dict(action="create", model_id="flux-schnell", prompt="x"), "user_id": alice}
    response = await api.client.post("/api/generations/create", json=body, headers=api.auth(mallory))
    if response.status_code == 201:
        assert await api.credits(alice) == 99 and await api.credits(mallory) == 99
    headers = {**api.auth(mallory), "X-User-Id": alice, "X-Forwarded-User": alice}
    me = (await api.client.get("/api/me", headers=headers)).json()
    assert me["user"]["id"] == mallory


async def test_a_deleted_generation_stays_gone_and_is_not_refunded_twice(any_api: Api):
    alice = someone()
    created = await any_api.create(alice)
    path = f"/api/generations/{created['id']}"
    assert (await any_api.client.delete(path, headers=any_api.auth(alice))).status_code == 200
    assert await any_api.credits(alice) == 100
    for _ in range(3):
        assert (await any_api.client.delete(path, headers=any_api.auth(alice))).status_code == 404
        assert (await any_api.client.get(path, headers=any_api.auth(alice))).status_code == 404
    assert await any_api.credits(alice) == 100


@pytest.mark.parametrize("method,path,body", ADMIN_ROUTES)
async def test_admin_routes_refuse_normal_users_and_anonymous_callers(any_api: Api, method, path, body):
    stats = (await any_api.client.get("/api/admin/tokens/stats", headers=any_api.admin())).json()
    token_id = stats["tokens"][0]["id"]
    mallory = someone()
    url = path.format(token_id=token_id)
    if body is not None:
        body = {k: (mallory if v == "{self}" else v) for k, v in body.items()}
    for headers, expected in ((any_api.auth(mallory), 403), ({}, 401)):
        response = await any_api.client.request(method, url, json=body, headers=headers)
        assert response.status_code == expected, response.text
        assert REPLICATE_TOKEN not in response.text
    # Nothing changed: the pool, the token, mallory's balance.
    after = (await any_api.client.get("/api/admin/tokens/stats", headers=any_api.admin())).json()
    assert len(after["tokens"]) == 1 and after["tokens"][0]["is_active"] is True
    assert await any_api.credits(mallory) == 100


async def test_a_normal_user_cannot_become_admin_by_claims(api: Api):
    """Admin rights come from BASE_ADMIN_USER_IDS only, never from token claims."""
    from security_support import claims, hs256

    mallory = someone()
    for extra in ({"role": "service_role"}, {"app_metadata": {"role": "admin"}}, {"is_admin": True},
                  {"user_metadata": {"admin": True}}, {"email": "admin@base"}):
        token = hs256(claims(mallory, **extra))
        response = await api.client.get("/api/admin/tokens/stats", headers=api.bearer(token))
        assert response.status_code in (401, 403), (extra, response.text)
    # The administrator's id in another spelling is the administrator (same UUID), but an id
    # that only resembles it is not.
    lookalike = ADMIN_ID[:-1] + ("0" if ADMIN_ID[-1] != "0" else "1")
    response = await api.client.get("/api/admin/tokens/stats", headers=api.auth(lookalike))
    assert response.status_code == 403


STRANGE_IDS = [
    "' OR '1'='1", "\x00", "a\x00b", "\x1b[2J", "1; DROP TABLE generations; --",
    "../../api/admin/tokens/stats", "%00", "x" * 5000, "😀" * 100, "null", "*", "%", "_",
]


async def test_strange_generation_ids_are_404(any_api: Api):
    from urllib.parse import quote

    alice = someone()
    created = await any_api.create(alice)
    for generation_id in STRANGE_IDS:
        path = f"/api/generations/{quote(generation_id, safe='')}"
        for method in ("GET", "DELETE"):
            response = await any_api.client.request(method, path, headers=any_api.auth(alice))
            assert response.status_code in (400, 404), (generation_id, method, response.status_code, response.text)
    listed = (await any_api.client.get("/api/generations/list", headers=any_api.auth(alice))).json()
    assert [g["id"] for g in listed["generations"]] == [created["id"]]


async def test_an_idempotency_key_never_answers_with_another_users_generation(any_api: Api):
    from security_support import CREATE_BODY

    alice, mallory = someone(), someone()
    key = {"Idempotency-Key": "shared-key-1"}
    first = await any_api.client.post("/api/generations/create", json=CREATE_BODY,
                                      headers={**any_api.auth(alice), **key})
    assert first.status_code == 201
    second = await any_api.client.post("/api/generations/create", json=CREATE_BODY,
                                       headers={**any_api.auth(mallory), **key})
    assert second.status_code in (201, 409), second.text
    if second.status_code == 201:
        assert second.json()["id"] != first.json()["id"]
    assert await any_api.credits(alice) == 99
