"""Bearer tokens (Supabase HS256/ES256, session tokens) and Telegram sign-in over HTTP."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
from http_helpers import ISSUER, SUPABASE_SECRET


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def me(api, token: str):
    return await api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


async def test_no_credentials_is_401_with_challenge(api):
    response = await api.client.get("/api/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem) and problem["status"] == 401


async def test_wrong_scheme_and_garbage_are_401(api):
    for header in ("Basic abc", "Bearer", "Bearer not-a-jwt", "Token x.y.z"):
        response = await api.client.get("/api/me", headers={"Authorization": header})
        assert response.status_code == 401, header


async def test_first_seen_supabase_user_gets_initial_credits(api):
    user_id = str(uuid.uuid4())
    response = await me(api, api.supabase_token(user_id, email="ann@example.com"))
    assert response.status_code == 200
    assert response.json() == {
        "user": {
            "id": user_id,
            "telegram_username": None,
            "telegram_first_name": None,
            "email": "ann@example.com",
            "credits": 100,
        },
        "is_admin": False,
    }


async def test_es256_token_from_jwks_works(api):
    user_id = str(uuid.uuid4())
    response = await me(api, api.es256_token(user_id))
    assert response.status_code == 200 and response.json()["user"]["id"] == user_id


async def test_hs256_with_wrong_secret_expired_or_wrong_audience_is_401(api):
    now = int(time.time())
    base = {"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated", "iss": ISSUER,
            "iat": now, "exp": now + 600}
    bad = [
        jwt.encode(base, "w" * 40, algorithm="HS256"),
        jwt.encode({**base, "exp": now - 600}, SUPABASE_SECRET, algorithm="HS256"),
        jwt.encode({**base, "aud": "other"}, SUPABASE_SECRET, algorithm="HS256"),
        jwt.encode({**base, "role": "anon"}, SUPABASE_SECRET, algorithm="HS256"),
        jwt.encode({**base, "iss": "https://evil.example/auth/v1"}, SUPABASE_SECRET, algorithm="HS256"),
    ]
    for token in bad:
        assert (await me(api, token)).status_code == 401


async def test_alg_none_is_401(api):
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated", "iss": ISSUER,
              "iat": now, "exp": now + 600}
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."
        assert (await me(api, token)).status_code == 401


async def test_telegram_sign_in_returns_user_and_a_working_session_token(api):
    response = await api.client.post("/api/auth/telegram", json={"initData": api.init_data(telegram_id=42)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"user", "session_token"}
    user = body["user"]
    assert {"id", "telegram_username", "telegram_first_name", "credits"} <= set(user)
    assert (user["telegram_username"], user["telegram_first_name"], user["credits"]) == ("ann", "Ann", 100)
    mine = await me(api, body["session_token"])
    assert mine.status_code == 200 and mine.json()["user"]["id"] == user["id"]
    again = await api.client.post(
        "/api/auth/telegram", json={"initData": api.init_data(telegram_id=42, username="ann2")}
    )
    assert again.json()["user"]["id"] == user["id"]
    assert again.json()["user"]["telegram_username"] == "ann2"


async def test_tampered_stale_or_unsigned_init_data_is_401(api):
    good = api.init_data(telegram_id=43)
    tampered = good.replace("Ann", "Bob")
    stale = api.init_data(telegram_id=43, auth_date=int(time.time()) - 2 * 86400)
    unsigned = good.split("&hash=")[0]
    for init_data in (tampered, stale, unsigned, "", "garbage"):
        response = await api.client.post("/api/auth/telegram", json={"initData": init_data})
        assert response.status_code == 401, init_data


async def test_telegram_body_without_init_data_is_400(api):
    response = await api.client.post("/api/auth/telegram", json={"init_data": "x"})
    assert response.status_code == 400
    assert response.json()["field"] == "initData"


async def test_forged_session_token_is_401(api):
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "iss": "base", "aud": "base-session", "iat": now, "exp": now + 60}
    forged = jwt.encode(claims, "f" * 48, algorithm="HS256")
    assert (await me(api, forged)).status_code == 401
    assert (await me(api, api.sessions.issue(claims["sub"]))).status_code == 200
