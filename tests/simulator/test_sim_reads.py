"""The read routes and the Files API over raw HTTP: paging, filters, schemas, uploads."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sim_helpers import BIREFNET, GOOD, OTHER, auth, fast_config, png_bytes, wait_until_done

from replicate_simulator import KNOWN_MODELS, Simulator
from replicate_simulator.models import NO_DEFAULT
from replicate_simulator.pagination import InvalidCursor, decode_cursor
from replicate_simulator.schemas import openapi_schema


async def _create(http: httpx.AsyncClient, body: dict[str, object], token: str = GOOD) -> dict:
    response = await http.post("/v1/predictions", json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_pages_of_three_walk_forward_and_back() -> None:
    async with (
        Simulator(fast_config(page_size=3)).running() as sim,
        httpx.AsyncClient(base_url=sim.base_url) as http,
    ):
        ids = [(await _create(http, {"version": BIREFNET, "input": {"image": "data:,x"}}))["id"]
               for _ in range(7)]
        await _create(http, {"version": BIREFNET, "input": {"image": "data:,x"}}, token=OTHER)
        seen, url = [], "/v1/predictions"
        pages = []
        while url:
            body = (await http.get(url, headers=auth())).json()
            pages.append(body)
            seen += [p["id"] for p in body["results"]]
            url = body["next"]
        assert seen == ids[::-1]
        assert [len(p["results"]) for p in pages] == [3, 3, 1]
        assert pages[0]["previous"] is None
        back = (await http.get(pages[2]["previous"], headers=auth())).json()
        assert [p["id"] for p in back["results"]] == [p["id"] for p in pages[1]["results"]]
        assert all(p["source"] == "api" for p in pages[0]["results"])

        bad = await http.get("/v1/predictions", params={"cursor": "nonsense"}, headers=auth())
        assert bad.status_code == 400 and bad.json()["title"] == "Bad request"


async def test_created_after_and_before_filter(sim: Simulator, http: httpx.AsyncClient) -> None:
    first = await _create(http, {"version": BIREFNET, "input": {"image": "data:,x"}})
    await asyncio.sleep(0.05)
    second = await _create(http, {"version": BIREFNET, "input": {"image": "data:,x"}})
    after = await http.get(
        "/v1/predictions", params={"created_after": second["created_at"]}, headers=auth()
    )
    assert [p["id"] for p in after.json()["results"]] == [second["id"]]
    before = await http.get(
        "/v1/predictions", params={"created_before": second["created_at"]}, headers=auth()
    )
    assert [p["id"] for p in before.json()["results"]] == [first["id"]]
    wrong = await http.get("/v1/predictions", params={"created_after": "soon"}, headers=auth())
    assert wrong.status_code == 400


def test_a_cursor_not_handed_out_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor("c2lkZXdheXM6MTox")  # "sideways:1:1"


@pytest.mark.parametrize("model", KNOWN_MODELS, ids=lambda m: m.name)
def test_the_schema_says_what_validation_does(model) -> None:  # type: ignore[no-untyped-def]
    schemas = openapi_schema(model)["components"]["schemas"]  # type: ignore[index]
    properties = schemas["Input"]["properties"]
    assert list(properties) == [f.name for f in model.fields]
    assert schemas["Input"].get("required", []) == [f.name for f in model.fields if f.required]
    for field in model.fields:
        prop = properties[field.name]
        if field.default is not NO_DEFAULT:
            assert prop["default"] == field.default
        if field.choices:
            enum = prop["allOf"][0]["$ref"].rsplit("/", 1)[1]
            assert schemas[enum]["enum"] == list(field.choices)
        if field.maximum is not None:
            assert prop["maximum"] == field.maximum


async def test_uploads_belong_to_their_account(sim: Simulator, http: httpx.AsyncClient) -> None:
    files = {"content": ("in.png", png_bytes((12, 12)), "image/png")}
    upload = (await http.post("/v1/files", files=files, headers=auth())).json()
    assert (await http.get(f"/v1/files/{upload['id']}", headers=auth(OTHER))).status_code == 404
    theirs = await _create(
        http, {"version": BIREFNET, "input": {"image": upload["urls"]["get"]}}, token=OTHER
    )
    done = await wait_until_done(http, theirs["id"], token=OTHER)
    assert done["status"] == "failed" and "404" in done["error"]
    mine = await _create(http, {"version": BIREFNET, "input": {"image": upload["urls"]["get"]}})
    assert (await wait_until_done(http, mine["id"]))["status"] == "succeeded"


async def test_an_upload_needs_its_content(http: httpx.AsyncClient) -> None:
    missing = await http.post("/v1/files", files={"other": ("a", b"x")}, headers=auth())
    assert missing.status_code == 422 and missing.json()["invalid_fields"][0]["field"] == "content"
    not_form = await http.post("/v1/files", json={"content": "x"}, headers=auth())
    assert not_form.status_code == 400
    bad_metadata = await http.post(
        "/v1/files", files={"content": ("a", b"x")}, data={"metadata": "[1]"}, headers=auth()
    )
    assert bad_metadata.status_code == 400
    assert (await http.post("/v1/files", files={"content": ("a", b"x")})).status_code == 401


async def test_reads_need_a_token(http: httpx.AsyncClient) -> None:
    for path in ["/v1/models/google/nano-banana", "/v1/account", "/v1/predictions", "/v1/files"]:
        assert (await http.get(path)).status_code == 401, path
