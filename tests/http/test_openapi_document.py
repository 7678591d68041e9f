"""The OpenAPI document says what the API really does, so generated clients can trust it."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
async def doc(api) -> dict:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


async def test_enums_are_enums(doc):
    schemas = doc["components"]["schemas"]
    action = {"create", "edit", "upscale", "remove_bg"}
    status = {"pending", "processing", "completed", "failed", "canceled"}
    assert set(resolve(doc, schemas["CreateGenerationIn"]["properties"]["action"])["enum"]) == action
    out = schemas["GenerationOut"]["properties"]
    assert set(resolve(doc, out["action"])["enum"]) == action
    assert set(resolve(doc, out["status"])["enum"]) >= status
    assert set(resolve(doc, schemas["CreatedGeneration"]["properties"]["status"])["enum"]) >= status
    assert set(resolve(doc, schemas["ModelOut"]["properties"]["action"])["enum"]) == action
    assert "enum" in resolve(doc, schemas["SettingOut"]["properties"]["type"])


async def test_every_error_is_a_problem_with_a_real_example(doc):
    for path, method, operation in operations(doc):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            media = content["application/problem+json"]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
            for example in media.get("examples", {}).values():
                assert example["value"]["status"] == int(status)
    problem = doc["components"]["schemas"]["Problem"]
    assert "examples" not in problem  # no random strings passed off as examples


async def test_the_webhook_body_is_replicates_prediction(doc):
    body = doc["paths"]["/api/webhook/replicate"]["post"]["requestBody"]["content"]["application/json"]
    schema = resolve(doc, body["schema"])
    assert schema["type"] == "object" and set(schema["required"]) == {"id", "status"}
    assert set(schema["properties"]["status"]["enum"]) >= {"starting", "processing", "succeeded", "failed", "canceled"}


async def test_delete_takes_no_idempotency_key_and_documents_no_409(doc):
    delete = doc["paths"]["/api/generations/{generation_id}"]["delete"]
    assert "409" not in delete["responses"]
    assert not [p for p in delete.get("parameters", []) if p["name"].lower() == "idempotency-key"]
    for path, method, operation in operations(doc):
        if "409" in operation["responses"] and "Idempotency-Key" in operation["responses"]["409"]["description"]:
            assert [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"], path


async def test_429_and_401_declare_their_headers(doc):
    for path, method, operation in operations(doc):
        responses = operation["responses"]
        if "429" in responses:
            assert responses["429"]["headers"]["Retry-After"]["required"] is True
        if "401" in responses:
            assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "Retry-After" in doc["paths"]["/api/generations/create"]["post"]["responses"]["503"]["headers"]


async def test_descriptions_speak_of_what_the_route_checks(doc):
    telegram = doc["paths"]["/api/auth/telegram"]["post"]["responses"]
    assert "initData" in telegram["401"]["description"]
    assert "BASE_TELEGRAM_BOT_TOKEN" in telegram["503"]["description"]
    webhook = doc["paths"]["/api/webhook/replicate"]["post"]["responses"]
    assert "signature" in webhook["401"]["description"]
    for responses in (telegram, webhook):
        for status in ("401", "503"):
            assert not re.search(r"bearer|Replicate token", responses[status]["description"], re.I)


async def test_outputs_are_documented_as_images(doc):
    ok = doc["paths"]["/outputs/{key}"]["get"]["responses"]["200"]
    assert {"image/png", "image/jpeg", "image/webp"} <= set(ok["content"])
    assert "application/json" not in ok["content"]
    assert ok["content"]["image/png"]["schema"] == {"type": "string", "format": "binary"}


async def test_create_has_the_seeds_examples_for_every_action(doc):
    body = doc["paths"]["/api/generations/create"]["post"]["requestBody"]["content"]["application/json"]
    examples = body["examples"]
    assert set(examples) == {"create", "edit", "upscale", "remove_bg"}
    assert examples["create"]["value"] == {
        "action": "create", "model_id": "flux-schnell", "prompt": "A beautiful sunset over mountains",
        "settings": {"aspect_ratio": "16:9", "num_outputs": 1},
    }


async def test_swagger_ui_needs_no_cdn(api):
    page = await api.client.get("/schema/swagger")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets and not [url for url in assets if "//" in url], assets
    for url in assets:
        response = await api.client.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 1000, url


async def test_answers_carry_the_seeds_examples(doc):
    created = doc["paths"]["/api/generations/create"]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["examples"]["seed"]["value"]["status"] == "processing"
    read = doc["paths"]["/api/generations/{generation_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    example = read["examples"]["seed"]["value"]
    generation = resolve(doc, read["schema"])
    assert set(generation["properties"]) == set(generation["required"])
    # Every field but the null ones (Litestar writes no None into the document).
    nullable = {name for name, field in generation["properties"].items()
                if {"type": "null"} in field.get("oneOf", [])}
    assert set(example) == set(generation["required"]) - (nullable - set(example))
    assert {"id", "status", "output_urls", "cost", "created_at"} <= set(example)
