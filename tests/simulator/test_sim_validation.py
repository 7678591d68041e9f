"""Bad input, unknown models and versions, and the models' schemas."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import replicate
from sim_helpers import BIREFNET, ESRGAN, auth, client_for

from replicate_simulator import KNOWN_MODELS, Simulator
from replicate_simulator.models import FLUX_SCHNELL, REAL_ESRGAN, InputInvalid

FLUX_ROUTE = "/v1/models/black-forest-labs/flux-schnell/predictions"


async def _invalid_fields(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[dict[str, str]]:
    response = await http.post(path, json=body, headers=auth())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Input validation failed"
    assert problem["status"] == 422
    assert problem["detail"]
    return problem["invalid_fields"]  # type: ignore[no-any-return]


async def test_missing_prompt_is_reported(http: httpx.AsyncClient) -> None:
    fields = await _invalid_fields(http, FLUX_ROUTE, {"input": {}})
    assert fields == [
        {"type": "required", "field": "prompt", "description": "prompt is required"}
    ]


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("aspect_ratio", "7:5", "enum"),
        ("num_outputs", 5, "number_lte"),
        ("num_outputs", 0, "number_gte"),
        ("num_inference_steps", 5, "number_lte"),
        ("output_format", "gif", "enum"),
        ("output_quality", 101, "number_lte"),
        ("megapixels", "2", "enum"),
        ("go_fast", "yes", "invalid_type"),
        ("seed", "42", "invalid_type"),
        ("num_outputs", 1.5, "invalid_type"),
    ],
)
async def test_flux_schnell_bounds(
    http: httpx.AsyncClient, field: str, value: object, kind: str
) -> None:
    fields = await _invalid_fields(http, FLUX_ROUTE, {"input": {"prompt": "x", field: value}})
    assert [(f["field"], f["type"]) for f in fields] == [(field, kind)]


async def test_every_invalid_field_is_listed(http: httpx.AsyncClient) -> None:
    fields = await _invalid_fields(
        http, FLUX_ROUTE, {"input": {"aspect_ratio": "1:2", "num_outputs": 9}}
    )
    assert {f["field"] for f in fields} == {"prompt", "aspect_ratio", "num_outputs"}


@pytest.mark.parametrize(
    ("version", "input_", "field"),
    [
        (ESRGAN, {}, "image"),
        (ESRGAN, {"image": "not a url"}, "image"),
        (ESRGAN, {"image": "http://x/y.png", "scale": 11}, "scale"),
        (ESRGAN, {"image": "http://x/y.png", "face_enhance": 1}, "face_enhance"),
        (BIREFNET, {"image": "ftp://x/y.png"}, "image"),
        (BIREFNET, {"image": "http://x/y.png", "resolution": 1024}, "resolution"),
    ],
)
async def test_community_model_schemas(
    http: httpx.AsyncClient, version: str, input_: dict[str, object], field: str
) -> None:
    fields = await _invalid_fields(http, "/v1/predictions", {"version": version, "input": input_})
    assert [f["field"] for f in fields] == [field]


async def test_nano_banana_schema(http: httpx.AsyncClient) -> None:
    path = "/v1/models/google/nano-banana/predictions"
    fields = await _invalid_fields(
        http, path, {"input": {"prompt": "x", "image_input": ["nope"], "output_format": "webp"}}
    )
    assert {f["type"] for f in fields} == {"format", "enum"}


async def test_webhook_options_are_checked(http: httpx.AsyncClient) -> None:
    fields = await _invalid_fields(
        http,
        FLUX_ROUTE,
        {"input": {"prompt": "x"}, "webhook": "not-a-url", "webhook_events_filter": ["done"]},
    )
    assert {f["field"] for f in fields} == {"webhook", "webhook_events_filter"}


async def test_client_sees_422_as_replicate_error(sim: Simulator) -> None:
    with pytest.raises(replicate.exceptions.ReplicateError) as caught:
        await client_for(sim).models.predictions.async_create(
            model="black-forest-labs/flux-schnell", input={"prompt": "x", "num_outputs": 10}
        )
    assert caught.value.status == 422
    assert caught.value.title == "Input validation failed"


async def test_unknown_model_is_404(sim: Simulator, http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/models/someone/nothing/predictions", json={"input": {}}, headers=auth()
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    with pytest.raises(replicate.exceptions.ReplicateError) as caught:
        await client_for(sim).models.predictions.async_create(
            model="someone/nothing", input={"prompt": "x"}
        )
    assert caught.value.status == 404


async def test_community_model_is_not_on_the_official_route(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/models/nightmareai/real-esrgan/predictions",
        json={"input": {"image": "http://x/y.png"}},
        headers=auth(),
    )
    assert response.status_code == 404


@pytest.mark.parametrize("version", ["0" * 64, f"men1scus/birefnet:{ESRGAN}"])
async def test_unknown_version_is_refused(http: httpx.AsyncClient, version: str) -> None:
    response = await http.post(
        "/v1/predictions", json={"version": version, "input": {}}, headers=auth()
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Invalid version or not permitted"


async def test_missing_version_and_bad_json(http: httpx.AsyncClient) -> None:
    missing = await http.post("/v1/predictions", json={"input": {}}, headers=auth())
    assert missing.status_code == 422
    assert missing.json()["invalid_fields"][0]["field"] == "version"
    garbage = await http.post(
        "/v1/predictions", content=b"{not json", headers={**auth(), "content-type": "application/json"}
    )
    assert garbage.status_code == 400
    assert garbage.headers["content-type"] == "application/problem+json"


def test_defaults_are_filled_in() -> None:
    resolved = FLUX_SCHNELL.validate({"prompt": "x", "unknown": 1})
    assert resolved == {
        "prompt": "x",
        "aspect_ratio": "1:1",
        "num_outputs": 1,
        "num_inference_steps": 4,
        "output_format": "webp",
        "output_quality": 80,
        "disable_safety_checker": False,
        "go_fast": True,
        "megapixels": "1",
    }
    assert REAL_ESRGAN.validate({"image": "https://x/y.png", "scale": 2}) == {
        "image": "https://x/y.png",
        "scale": 2.0,
        "face_enhance": False,
    }


def test_input_must_be_an_object() -> None:
    with pytest.raises(InputInvalid) as caught:
        FLUX_SCHNELL.validate(["prompt"])
    assert caught.value.fields[0].field == "input"


def test_known_models() -> None:
    refs = {m.ref: (m.official, m.output) for m in KNOWN_MODELS}
    assert refs == {
        "black-forest-labs/flux-schnell": (True, "list"),
        "google/nano-banana": (True, "single"),
        "nightmareai/real-esrgan": (False, "single"),
        "men1scus/birefnet": (False, "single"),
    }
