"""Forged credentials: JWTs, Replicate webhooks, Telegram initData. Every attack must fail."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from security_support import (
    ADMIN_ID,
    BOT_TOKEN,
    EC_KEY,
    ISSUER,
    RSA_KEY,
    RSA_PUBLIC_PEM,
    SESSION_SECRET,
    SUPABASE_SECRET,
    WEBHOOK_SECRET,
    Api,
    claims,
    hs256,
    unsigned,
    webhook_headers,
)

WEBHOOK = "/api/webhook/replicate"


def forged_tokens() -> dict[str, str]:
    admin = claims(ADMIN_ID)
    now = int(time.time())
    attacker_ec = ec.generate_private_key(ec.SECP256R1())
    attacker_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_jwk = jwt.algorithms.ECAlgorithm.to_jwk(attacker_ec.public_key(), as_dict=True)
    return {
        "alg none": unsigned(admin),
        "alg None": unsigned(admin, {"alg": "None", "typ": "JWT"}),
        "alg NONE with kid": unsigned(admin, {"alg": "NONE", "kid": "ec-1"}),
        "alg none, session issuer": unsigned({**admin, "iss": "base", "aud": "base-session"}),
        "alg none with a signature": unsigned(admin) + "c2lnbmF0dXJl",
        "HS256 keyed with the RSA public key": hs256(admin, RSA_PUBLIC_PEM, kid="rsa-1"),
        "HS256 keyed with the RSA public key, no kid": hs256(admin, RSA_PUBLIC_PEM),
        "HS256 keyed with the EC JWK": hs256(
            admin, json.dumps(jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True)),
            kid="ec-1",
        ),
        "HS256 with the wrong secret": hs256(admin, "not-the-secret-" + "w" * 40),
        "HS256 with the session secret": hs256(admin, SESSION_SECRET),
        "session token signed with the Supabase secret": hs256(
            {**admin, "iss": "base", "aud": "base-session"}, SUPABASE_SECRET
        ),
        "RS256 by another key under a known kid": jwt.encode(
            admin, attacker_rsa, algorithm="RS256", headers={"kid": "rsa-1"}
        ),
        "ES256 by another key with its own embedded jwk": jwt.encode(
            admin, attacker_ec, algorithm="ES256", headers={"kid": "ec-1", "jwk": attacker_jwk}
        ),
        "ES256 with jku pointing elsewhere": jwt.encode(
            admin, attacker_ec, algorithm="ES256",
            headers={"kid": "attacker", "jku": "https://evil.example/jwks.json"},
        ),
        "RS256 header on the EC key": jwt.encode(
            admin, RSA_KEY, algorithm="RS256", headers={"kid": "ec-1"}
        ),
        "PS256 with the right key": jwt.encode(admin, RSA_KEY, algorithm="PS256",
                                               headers={"kid": "rsa-1"}),
        "HS512 with the right secret": hs512(admin),
        "kid path traversal": jwt.encode(admin, attacker_ec, algorithm="ES256",
                                         headers={"kid": "../../../../dev/null"}),
        "wrong aud": hs256({**admin, "aud": "anon"}),
        "aud list without authenticated": hs256({**admin, "aud": ["service", "other"]}),
        "wrong iss": hs256({**admin, "iss": "https://evil.supabase.co/auth/v1"}),
        "missing iss": hs256({k: v for k, v in admin.items() if k != "iss"}),
        "expired": hs256({**admin, "iat": now - 7200, "exp": now - 3600}),
        "no exp": hs256({k: v for k, v in admin.items() if k != "exp"}),
        "exp as text": hs256({**admin, "exp": str(now + 3600)}),
        "not yet valid": hs256({**admin, "nbf": now + 3600}),
        "issued in the future": hs256({**admin, "iat": now + 3600, "exp": now + 7200}),
        "role anon": hs256({**admin, "role": "anon"}),
        "role service_role": hs256({**admin, "role": "service_role"}),
        "sub not a UUID": hs256({**admin, "sub": "admin"}),
        "sub SQL": hs256({**admin, "sub": "' OR '1'='1"}),
        "sub UUID in braces": hs256({**admin, "sub": "{" + ADMIN_ID + "}"}),
        "sub urn": hs256({**admin, "sub": "urn:uuid:" + ADMIN_ID}),
        "sub number": hs256({**admin, "sub": 1}),
        "sub list": hs256({**admin, "sub": [ADMIN_ID]}),
        "sub with a NUL": hs256({**admin, "sub": ADMIN_ID + "\x00"}),
        "sub missing": hs256({k: v for k, v in admin.items() if k != "sub"}),
        "two dots only": "..",
        "four parts": hs256(admin) + ".extra",
        "huge token": "a" * 20_000 + "." + "b" * 20_000 + "." + "c",
    }


def hs512(payload: dict) -> str:
    import base64
    import hashlib
    import hmac

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS512', 'typ': 'JWT'})}.{part(payload)}"
    mac = hmac.new(SUPABASE_SECRET.encode(), signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


FORGED = forged_tokens()


async def test_forged_bearer_tokens_are_401(any_api: Api):
    for name, token in FORGED.items():
        for path in ("/api/me", "/api/admin/tokens/stats", "/api/generations/list"):
            response = await any_api.client.get(path, headers=any_api.bearer(token))
            assert response.status_code == 401, (name, path, response.status_code, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "Traceback" not in response.text
    # Nobody was created on the way: a refused token never reaches the user store.
    stats = await any_api.client.get("/api/admin/tokens/stats", headers=any_api.admin())
    assert stats.status_code == 200


async def test_the_real_tokens_still_work(any_api: Api):
    """The attacks above fail for the right reason: the genuine tokens of each kind pass."""
    admin = claims(ADMIN_ID)
    genuine = [
        hs256(admin),
        jwt.encode(admin, EC_KEY, algorithm="ES256", headers={"kid": "ec-1"}),
        jwt.encode(admin, RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"}),
        any_api.sessions.issue(ADMIN_ID),
    ]
    for token in genuine:
        response = await any_api.client.get("/api/admin/tokens/stats", headers=any_api.bearer(token))
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Token abc", "bearer\tabc", "Bearer a b c",
     "Bearer \x7f", "Bearer " + "x" * 8000],
)
async def test_malformed_authorization_headers_are_401(api: Api, header: str):
    response = await api.client.get("/api/me", headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="base"'



# Webhooks


async def _running(api: Api) -> tuple[str, dict, str]:
    alice = str(uuid.uuid4())
    created = await api.create(alice)
    return alice, created, created["prediction_id"]


def _succeeded(prediction_id: str, **extra) -> bytes:
    return json.dumps({
        "id": prediction_id, "status": "succeeded", "output": ["https://replicate.delivery/x/out.png"],
        "metrics": {"predict_time": 1.0}, **extra,
    }).encode()


async def _unchanged(api: Api, alice: str, created: dict) -> None:
    generation = (await api.client.get(f"/api/generations/{created['id']}", headers=api.auth(alice))).json()
    assert generation["status"] == "processing", generation
    assert generation["output_urls"] is None
    assert await api.credits(alice) == 99


async def test_forged_webhooks_are_401_and_change_nothing(any_api: Api):
    alice, created, prediction = await _running(any_api)
    body = _succeeded(prediction)
    now = int(time.time())
    other_secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="
    good = webhook_headers(body)
    attempts = {
        "no headers": {"content-type": "application/json"},
        "signed with another secret": webhook_headers(body, secret=other_secret),
        "signature of an empty body": {**good, "webhook-signature": webhook_headers(b"")["webhook-signature"]},
        "v2 scheme": {**good, "webhook-signature": good["webhook-signature"].replace("v1,", "v2,")},
        "garbage signature": {**good, "webhook-signature": "v1,AAAA"},
        "not base64": {**good, "webhook-signature": "v1,!!!!"},
        "many signatures": {**good, "webhook-signature": " ".join(["v1,AAAA"] * 100)},
        "stale timestamp (replay)": webhook_headers(body, stamp=now - 3600),
        "just outside tolerance": webhook_headers(body, stamp=now - 301 - 5),
        "future timestamp": webhook_headers(body, stamp=now + 3600),
        "negative timestamp": {**good, "webhook-timestamp": "-1"},
        "timestamp as float": {**good, "webhook-timestamp": f"{now}.0"},
        "huge timestamp": {**good, "webhook-timestamp": "9" * 40},
        "id with control characters": {**good, "webhook-id": "msg\x01"},
    }
    for name, headers in attempts.items():
        response = await any_api.client.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 401, (name, response.status_code, response.text)
    await _unchanged(any_api, alice, created)


async def test_a_validly_signed_webhook_cannot_be_altered_or_re_signed(any_api: Api):
    alice, created, prediction = await _running(any_api)
    original = json.dumps({"id": prediction, "status": "processing"}).encode()
    headers = webhook_headers(original)
    altered = {
        "status changed": _succeeded(prediction),
        "whitespace added": original + b" ",
        "another prediction": json.dumps({"id": "someone-else", "status": "succeeded"}).encode(),
    }
    for name, body in altered.items():
        response = await any_api.client.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 401, (name, response.text)
    # The signature covers the id and timestamp too: moving them breaks it.
    body = _succeeded(prediction)
    signed = webhook_headers(body)
    for name, change in (("new id", {"webhook-id": "msg_other"}),
                         ("new timestamp", {"webhook-timestamp": str(int(signed["webhook-timestamp"]) + 1)})):
        response = await any_api.client.post(WEBHOOK, content=body, headers={**signed, **change})
        assert response.status_code == 401, name
    await _unchanged(any_api, alice, created)


async def test_replaying_a_genuine_webhook_settles_once(any_api: Api):
    alice, created, prediction = await _running(any_api)
    body = _succeeded(prediction)
    headers = webhook_headers(body)
    for _ in range(3):
        response = await any_api.client.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 200
    # A fresh signature of the same news (Replicate retrying) changes nothing either.
    assert (await any_api.client.post(WEBHOOK, content=body, headers=webhook_headers(body))).status_code == 200
    failed = json.dumps({"id": prediction, "status": "failed", "error": "late"}).encode()
    assert (await any_api.client.post(WEBHOOK, content=failed, headers=webhook_headers(failed))).status_code == 200
    generation = (await any_api.client.get(f"/api/generations/{created['id']}",
                                           headers=any_api.auth(alice))).json()
    assert generation["status"] == "completed"
    assert await any_api.credits(alice) == 99


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"", 401, "the webhook body is not JSON"),
        (b"{", 401, "the webhook body is not JSON"),
        (b"\xff\xfe", 401, "the webhook body is not JSON"),
        (b"[" * 5000 + b"]" * 5000, 401, "the webhook body is not JSON"),
        (b"null", 401, "the webhook body is not a prediction"),
        (b"[]", 401, "the webhook body is not a prediction"),
        (b"\"x\"", 401, "the webhook body is not a prediction"),
        (b'{"id": 1}', 401, "the webhook body is not a prediction"),
        (b'{"id": "' + b"p" * 10_000 + b'"}', 401, "the webhook body is not a prediction"),
        # Signed by Replicate's secret, yet not a prediction Replicate would send.
        (b'{"id": "p"}', 400, "body: the prediction has no status"),
        (b'{"id": "p", "status": "x" }', 400, "body: unknown prediction status 'x'"),
    ],
)
async def test_junk_webhook_bodies_are_refused(api: Api, body: bytes, status: int, detail: str):
    response = await api.client.post(WEBHOOK, content=body, headers=webhook_headers(body))
    assert response.status_code == status, response.text
    assert response.json()["detail"] == detail


# Telegram initData


async def test_forged_and_stale_init_data_is_401(any_api: Api):
    now = int(time.time())
    genuine = any_api.init_data()
    attempts = {
        "signed with another bot": any_api.init_data(bot_token="111:another-bot-token"),
        "hash flipped": genuine[:-1] + ("0" if genuine[-1] != "0" else "1"),
        "hash removed": "&".join(p for p in genuine.split("&") if not p.startswith("hash=")),
        "hash uppercase": genuine.replace(genuine.rsplit("hash=", 1)[1],
                                          genuine.rsplit("hash=", 1)[1].upper()),
        "user swapped after signing": genuine.replace("4242", "4243"),
        "field added after signing": genuine + "&is_admin=1",
        "duplicate user field": genuine + "&user=" + json.dumps({"id": 1}),
        "stale": any_api.init_data(auth_date=now - 2 * 86400),
        "epoch": any_api.init_data(auth_date=0),
        "future": any_api.init_data(auth_date=now + 86400),
        "empty": "",
        "just a hash": "hash=" + "0" * 64,
        "huge": "a=" + "b" * 15000,
    }
    for name, init_data in attempts.items():
        response = await any_api.client.post("/api/auth/telegram", json={"initData": init_data})
        assert response.status_code == 401, (name, response.status_code, response.text)
        assert "session_token" not in response.text
    ok = await any_api.client.post("/api/auth/telegram", json={"initData": genuine})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("body", [{"initData": 1}, {"initData": None}, {"initData": ["a"]}, {}, [], "x"])
async def test_init_data_of_the_wrong_type_is_400(api: Api, body):
    response = await api.client.post("/api/auth/telegram", json=body)
    assert response.status_code == 400, response.text


async def test_a_session_token_for_one_user_is_not_another(api: Api):
    signed = (await api.client.post("/api/auth/telegram", json={"initData": api.init_data(5)})).json()
    token = signed["session_token"]
    header, payload, signature = token.split(".")
    other = jwt.decode(token, options={"verify_signature": False})
    other["sub"] = ADMIN_ID
    forged = jwt.encode(other, "guess-" + "g" * 40, algorithm="HS256").split(".")
    for attempt in (f"{header}.{forged[1]}.{signature}", ".".join(forged)):
        response = await api.client.get("/api/admin/tokens/stats", headers=api.bearer(attempt))
        assert response.status_code == 401
    assert BOT_TOKEN not in token and ISSUER not in json.dumps(other)
