"""Models, Replicate's webhook, health, unknown routes, and the OpenAPI schema."""

from __future__ import annotations

import json
import uuid

from http_helpers import CREATE_BODY, webhook_headers

ENDPOINTS = {
    ("get", "/api/models/list"): {"200", "400"},
    ("post", "/api/generations/create"): {"201", "400", "401", "402", "409", "413", "429", "503"},
    ("get", "/api/generations/{generation_id}"): {"200", "401", "404"},
    ("get", "/api/generations/list"): {"200", "400", "401"},
    ("delete", "/api/generations/{generation_id}"): {"200", "401", "404"},
    ("post", "/api/webhook/replicate"): {"200", "401"},
    ("post", "/api/auth/telegram"): {"200", "400", "401"},
    ("get", "/api/me"): {"200", "401"},
    ("get", "/api/admin/tokens/stats"): {"200", "401", "403"},
    ("post", "/api/admin/tokens"): {"201", "400", "401", "403"},
    ("patch", "/api/admin/tokens/{token_id}"): {"200", "400", "401", "403", "404"},
    ("post", "/api/admin/credits"): {"200", "400", "401", "402", "403", "404"},
    ("get", "/health"): {"200", "503"},
}
PUBLIC = {"/api/models/list", "/api/webhook/replicate", "/api/auth/telegram", "/health"}


async def test_models_list_in_the_seed_shape_with_price(api):
    response = await api.client.get("/api/models/list")
    assert response.status_code == 200
    models = response.json()["models"]
    assert {m["id"] for m in models} == {"flux-schnell", "nano-banana-edit", "real-esrgan", "birefnet"}
    flux = next(m for m in models if m["id"] == "flux-schnell")
    assert {"id", "name", "displayName", "replicateModel", "action", "runs", "description", "settings",
            "price"} <= set(flux)
    assert flux["replicateModel"] == "black-forest-labs/flux-schnell"
    assert flux["settings"][0] == {"name": "prompt", "label": "Prompt", "type": "textarea",
                                   "required": True, "max": 4000}


async def test_models_filter_by_action(api):
    creates = (await api.client.get("/api/models/list?action=create")).json()["models"]
    assert [m["id"] for m in creates] == ["flux-schnell"]
    bad = await api.client.get("/api/models/list?action=paint")
    assert bad.status_code == 400 and bad.json()["field"] == "action"


async def _running_generation(api) -> tuple[str, str, dict]:
    user_id = str(uuid.uuid4())
    headers = api.auth(user_id)
    created = (await api.client.post("/api/generations/create", json=CREATE_BODY, headers=headers)).json()
    return created["id"], created["prediction_id"], headers


def _prediction(prediction_id: str, status: str = "succeeded") -> bytes:
    return json.dumps({
        "id": prediction_id, "status": status, "output": ["https://replicate.delivery/pbxt/abc123.png"],
        "metrics": {"predict_time": 5.23}, "error": None,
    }).encode()


async def test_signed_webhook_completes_the_generation_and_duplicates_are_harmless(api):
    generation_id, prediction_id, headers = await _running_generation(api)
    body = _prediction(prediction_id)
    signed = webhook_headers(body, delivery="msg_1")
    first = await api.client.post("/api/webhook/replicate", content=body, headers=signed)
    assert first.status_code == 200
    again = await api.client.post("/api/webhook/replicate", content=body, headers=signed)
    assert again.status_code == 200
    late = _prediction(prediction_id, "processing")
    stale = await api.client.post("/api/webhook/replicate", content=late, headers=webhook_headers(late))
    assert stale.status_code == 200
    generation = (await api.client.get(f"/api/generations/{generation_id}", headers=headers)).json()
    assert generation["status"] == "completed"
    assert generation["output_urls"] == ["https://replicate.delivery/pbxt/abc123.png"]
    assert generation["processing_time_ms"] == 5230
    me = (await api.client.get("/api/me", headers=headers)).json()
    assert me["user"]["credits"] == 99  # charged once


async def test_webhook_for_an_unknown_prediction_is_200(api):
    body = _prediction("never-heard-of-it")
    response = await api.client.post("/api/webhook/replicate", content=body, headers=webhook_headers(body))
    assert response.status_code == 200


async def test_bad_or_missing_signature_is_401_and_changes_nothing(api):
    generation_id, prediction_id, headers = await _running_generation(api)
    body = _prediction(prediction_id)
    signed = webhook_headers(body)
    forged = {**signed, "webhook-signature": "v1,AAAA" + signed["webhook-signature"][7:]}
    stale = webhook_headers(body)
    stale["webhook-timestamp"] = str(int(stale["webhook-timestamp"]) - 3600)
    for bad_headers in (forged, stale, {"content-type": "application/json"}):
        response = await api.client.post("/api/webhook/replicate", content=body, headers=bad_headers)
        assert response.status_code == 401
    other_body = _prediction(prediction_id, "failed")
    swapped = await api.client.post("/api/webhook/replicate", content=other_body, headers=signed)
    assert swapped.status_code == 401
    generation = (await api.client.get(f"/api/generations/{generation_id}", headers=headers)).json()
    assert generation["status"] == "processing"


async def test_health(api):
    response = await api.client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_health_is_503_when_the_database_is_down(api, monkeypatch):
    from base_core.errors import InfrastructureError

    async def down() -> None:
        raise InfrastructureError("connection refused")

    services = api.client.app.state.services
    object.__setattr__(services, "ping", down)
    response = await api.client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_route_and_wrong_method_are_problems(api):
    missing = await api.client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    wrong = await api.client.put("/api/models/list")
    assert wrong.status_code == 405
    assert wrong.json()["status"] == 405


async def test_openapi_lists_every_endpoint_with_its_statuses(api):
    schema = (await api.client.get("/schema/openapi.json")).json()
    for (method, path), statuses in ENDPOINTS.items():
        operation = schema["paths"][path][method]
        assert statuses <= set(operation["responses"]), (method, path, set(operation["responses"]))
        for status in statuses - {"200", "201"}:
            content = operation["responses"][status]["content"]
            assert "application/problem+json" in content, (method, path, status)
        secured = path not in PUBLIC
        assert bool(operation.get("security")) == secured, (method, path)
    assert schema["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    create = schema["paths"]["/api/generations/create"]["post"]
    assert "requestBody" in create
    assert "requestBody" in schema["paths"]["/api/webhook/replicate"]["post"]
    list_response = schema["paths"]["/api/generations/list"]["get"]["responses"]["200"]
    ref = list_response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "totalPages" in schema["components"]["schemas"][ref]["properties"]
