"""Operators' endpoints: token pool and credits; admins only, secrets never shown."""

from __future__ import annotations

import uuid

SECRET = "r8_adminaddedtokensecret000000000000XYZ9"


async def test_non_admins_are_403_and_anonymous_401(api):
    routes = [
        ("GET", "/api/admin/tokens/stats", None),
        ("POST", "/api/admin/tokens", {"token": SECRET, "label": "x"}),
        ("PATCH", "/api/admin/tokens/some-id", {"is_active": False}),
        ("POST", "/api/admin/credits", {"user_id": "u", "amount": 5, "reason": "r"}),
    ]
    for method, path, body in routes:
        response = await api.client.request(method, path, json=body, headers=api.auth(str(uuid.uuid4())))
        assert response.status_code == 403, (method, path)
        anonymous = await api.client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)


async def test_the_admin_guard_refuses_before_the_body_is_read(api):
    """Non-admins learn nothing about the operators' bodies: a bad body is 403, not 400."""
    for method, path in [("POST", "/api/admin/tokens"), ("POST", "/api/admin/credits")]:
        response = await api.client.request(method, path, content=b"{not json", headers=api.auth(str(uuid.uuid4())))
        assert response.status_code == 403, (method, path)
        assert response.json()["detail"] == "administrators only"
        anonymous = await api.client.request(method, path, content=b"{not json")
        assert anonymous.status_code == 401, (method, path)


async def test_an_admin_is_verified_once_per_request(api, monkeypatch):
    calls = 0
    bearer = api.client.app.state.services.bearer
    verify = type(bearer).verify

    async def counting(self, token: str):
        nonlocal calls
        calls += 1
        return await verify(self, token)

    monkeypatch.setattr(type(bearer), "verify", counting)
    response = await api.client.get("/api/admin/tokens/stats", headers=api.admin())
    assert response.status_code == 200 and calls == 1


async def test_token_lifecycle_never_shows_the_secret(api):
    added = await api.client.post("/api/admin/tokens", json={"token": SECRET, "label": "second"}, headers=api.admin())
    assert added.status_code == 201
    token = added.json()
    assert token["label"] == "second" and token["is_active"] is True
    assert SECRET not in added.text and token["token"].endswith("XYZ9")

    patched = await api.client.patch(
        f"/api/admin/tokens/{token['id']}", json={"is_active": False}, headers=api.admin()
    )
    assert patched.status_code == 200 and patched.json()["is_active"] is False

    stats = await api.client.get("/api/admin/tokens/stats", headers=api.admin())
    assert stats.status_code == 200
    body = stats.json()
    assert SECRET not in stats.text and "r8_test_token_secret_value_0001" not in stats.text
    assert body["totals"] == {"total_tokens": 2, "active_tokens": 1, "total_requests": 0, "total_errors": 0}
    fields = {"id", "label", "is_active", "request_count", "error_count", "error_rate_percent",
              "last_used_at", "cooldown_until"}
    assert all(fields <= set(t) for t in body["tokens"])


async def test_unknown_token_is_404_and_bad_bodies_400(api):
    missing = await api.client.patch("/api/admin/tokens/nope", json={"is_active": True}, headers=api.admin())
    assert missing.status_code == 404
    bad = await api.client.patch("/api/admin/tokens/nope", json={"is_active": "yes"}, headers=api.admin())
    assert bad.status_code == 400 and bad.json()["field"] == "is_active"
    empty = await api.client.post("/api/admin/tokens", json={"token": " "}, headers=api.admin())
    assert empty.status_code == 400 and empty.json()["field"] == "token"


async def test_credits_grant_and_deduct(api):
    user_id = str(uuid.uuid4())
    await api.client.get("/api/me", headers=api.auth(user_id))
    granted = await api.client.post(
        "/api/admin/credits", json={"user_id": user_id, "amount": 50, "reason": "promo"}, headers=api.admin()
    )
    assert granted.status_code == 200 and granted.json() == {"user_id": user_id, "credits": 150}
    deducted = await api.client.post(
        "/api/admin/credits", json={"user_id": user_id, "amount": -30, "reason": "fix"}, headers=api.admin()
    )
    assert deducted.json()["credits"] == 120
    too_much = await api.client.post(
        "/api/admin/credits", json={"user_id": user_id, "amount": -500, "reason": "x"}, headers=api.admin()
    )
    assert too_much.status_code == 402
    zero = await api.client.post(
        "/api/admin/credits", json={"user_id": user_id, "amount": 0, "reason": "x"}, headers=api.admin()
    )
    assert zero.status_code == 400 and zero.json()["field"] == "amount"
    unknown = await api.client.post(
        "/api/admin/credits", json={"user_id": str(uuid.uuid4()), "amount": 5, "reason": "x"},
        headers=api.admin(),
    )
    assert unknown.status_code == 404


async def test_credits_with_idempotency_key_apply_once(api):
    user_id = str(uuid.uuid4())
    await api.client.get("/api/me", headers=api.auth(user_id))
    headers = {**api.admin(), "Idempotency-Key": "grant-1"}
    body = {"user_id": user_id, "amount": 10, "reason": "once"}
    first = await api.client.post("/api/admin/credits", json=body, headers=headers)
    second = await api.client.post("/api/admin/credits", json=body, headers=headers)
    assert first.json()["credits"] == second.json()["credits"] == 110
    other = await api.client.post("/api/admin/credits", json={**body, "amount": 11}, headers=headers)
    assert other.status_code == 409


async def test_a_token_that_does_not_look_like_replicates_is_refused_unless_forced(api):
    for secret in ("notatoken", SECRET[:-1], SECRET + "0", "r8_" + "-" * 37):
        response = await api.client.post("/api/admin/tokens", json={"token": secret}, headers=api.admin())
        assert response.status_code == 400, secret
        assert response.json()["field"] == "token"
        assert "r8_ and 37 letters or digits" in response.json()["detail"]
    forced = await api.client.post(
        "/api/admin/tokens", json={"token": "notatoken", "force": True}, headers=api.admin()
    )
    assert forced.status_code == 201
    token = forced.json()
    # The default label comes from the id, never from the secret.
    assert token["label"] == f"token {token['id'][:8]}"
