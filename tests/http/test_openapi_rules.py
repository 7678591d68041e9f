"""The document states the bodies' rules, and the service keeps to them: a body the
document allows is accepted, one it forbids is a 400 (entrypoints/http/body_rules.py)."""

from __future__ import annotations

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from base_core.text import LINE_PATTERN

A_TOKEN = "r8_" + "A1b2C3d4E5" * 3 + "F6g7H8i"


@pytest.fixture
async def doc(api) -> dict:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def validator(doc: dict, name: str) -> jsonschema.Draft202012Validator:
    """The named component as a JSON Schema whose `$ref`s resolve within the document."""
    registry = Registry().with_resource("urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012))
    schema = {"$ref": f"urn:doc#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


CREATES = [
    # (body, whether the catalogue's rules allow it)
    ({"action": "create", "model_id": "flux-schnell", "prompt": "A sunset", "settings": {"num_outputs": 2}}, True),
    ({"action": "create", "model_id": "flux-schnell", "prompt": "A sunset", "settings": {"num_outputs": 2.0}}, True),
    ({"action": "create", "model_id": "flux-schnell", "prompt": "family 👨\u200d👩\u200d👧\nline two"}, True),
    ({"action": "create", "model_id": "flux-schnell", "prompt": "A sunset", "settings": {"seed": None}}, True),
    ({"action": "upscale", "model_id": "real-esrgan", "input_image_url": "https://example.com/a.png"}, True),
    ({"action": "edit", "model_id": "flux-schnell", "prompt": "A sunset"}, False),  # the model's action
    ({"action": "create", "model_id": "flux-schnell"}, False),  # its prompt is required
    ({"action": "create", "model_id": "flux-schnell", "prompt": "  \n "}, False),  # and not blank
    ({"action": "create", "model_id": "flux-schnell", "prompt": "a\x1bb"}, False),
    ({"action": "create", "model_id": "flux-schnell", "prompt": "x", "settings": {"num_outputs": 5}}, False),
    ({"action": "create", "model_id": "flux-schnell", "prompt": "x", "settings": {"num_outputs": 1.5}}, False),
    ({"action": "create", "model_id": "flux-schnell", "prompt": "x", "settings": {"steps": 2}}, False),
    ({"action": "create", "model_id": "flux-schnell", "prompt": "x", "settings": {"go_fast": 1}}, False),
    ({"action": "create", "model_id": "flux-schnell", "prompt": "x", "input_image_url": "https://a.com/b"}, False),
    ({"action": "upscale", "model_id": "real-esrgan"}, False),  # its image is required
    ({"action": "upscale", "model_id": "real-esrgan", "input_image_url": "ftp://example.com/a.png"}, False),
    ({"action": "upscale", "model_id": "real-esrgan", "input_image_url": "https://a.com/b", "prompt": "x"}, False),
    ({"action": "create", "model_id": "no-such-model", "prompt": "x"}, False),
]


@pytest.mark.parametrize(("body", "allowed"), CREATES)
async def test_a_create_body_is_accepted_exactly_when_the_document_allows_it(api, doc, body, allowed):
    assert validator(doc, "CreateGenerationIn").is_valid(body) is allowed, body
    answer = await api.client.post("/api/generations/create", json=body, headers=api.auth())
    assert (answer.status_code == 201) is allowed, answer.text
    if not allowed:
        assert answer.status_code == 400 and answer.json()["field"], answer.text


PURCHASES = [
    ({"pack_id": "starter", "provider": "stripe"}, True),
    ({"pack_id": "starter", "provider": "telegram", "note": "unknown fields are ignored"}, True),
    ({"pack_id": "mega", "provider": "stripe"}, False),
    ({"pack_id": "starter", "provider": "paypal"}, False),
]


@pytest.mark.parametrize(("body", "allowed"), PURCHASES)
async def test_a_purchase_body_names_a_pack_the_provider_sells(doc, body, allowed):
    assert validator(doc, "PurchaseIn").is_valid(body) is allowed


TOKENS = [
    ({"token": A_TOKEN}, True),
    ({"token": A_TOKEN, "label": "main account"}, True),
    ({"token": "notatoken"}, False),  # not Replicate's shape
    ({"token": "notatoken", "force": True}, True),
    ({"token": "not a token", "force": True}, False),  # white space, even forced
    ({"token": A_TOKEN, "force": 0}, False),  # JSON has booleans
    ({"token": A_TOKEN, "label": "evil\u202eexe.txt"}, False),  # a bidi override
]


@pytest.mark.parametrize(("body", "allowed"), TOKENS)
async def test_a_token_body_is_accepted_exactly_when_the_document_allows_it(api, doc, body, allowed):
    assert validator(doc, "TokenIn").is_valid(body) is allowed, body
    answer = await api.client.post("/api/admin/tokens", json=body, headers=api.admin())
    assert (answer.status_code == 201) is allowed, answer.text
    if not allowed:
        assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(("body", "field"), [
    ({"user_id": "u-1", "amount": "5"}, "amount"),
    ({"user_id": "u-1", "amount": 5, "reason": 7}, "reason"),
    ({"user_id": "u-1", "amount": True}, "amount"),
    ({"user_id": "u\x00", "amount": 5}, "user_id"),
])
async def test_bodies_are_read_with_json_types_and_nothing_changes(api, body, field):
    await api.studio.ensure_user("u-1")
    before = await api.studio.balance("u-1")
    answer = await api.client.post("/api/admin/credits", json=body, headers=api.admin())
    assert answer.status_code == 400 and answer.json()["field"] == field, answer.text
    assert await api.studio.balance("u-1") == before


async def test_a_whole_number_written_with_a_fraction_is_an_integer(api):
    await api.studio.ensure_user("u-2")
    before = await api.studio.balance("u-2")
    answer = await api.client.post("/api/admin/credits", json={"user_id": "u-2", "amount": 5.0},
                                   headers=api.admin())
    assert answer.status_code == 200 and answer.json()["credits"] == before + 5


@pytest.mark.parametrize(("path", "component", "header"), [
    ("/api/webhook/replicate", "ReplicatePrediction", "webhook-signature"),
    ("/api/webhook/telegram", "TelegramUpdate", "X-Telegram-Bot-Api-Secret-Token"),
    ("/api/webhook/stripe", "StripeEvent", "Stripe-Signature"),
])
async def test_each_webhook_documents_its_own_body_and_signature_header(doc, path, component, header):
    operation = doc["paths"][path]["post"]
    media = operation["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": f"#/components/schemas/{component}"}
    assert header in {p["name"] for p in operation["parameters"] if p["in"] == "header" and p["required"]}
    assert "401" in operation["responses"]


async def test_one_line_fields_state_the_rule_the_core_checks(doc):
    credits = doc["components"]["schemas"]["CreditsIn"]["properties"]
    assert credits["reason"]["pattern"] == credits["user_id"]["pattern"] == LINE_PATTERN
