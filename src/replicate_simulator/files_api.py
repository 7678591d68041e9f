"""Replicate's Files API: upload a file, read it back, pass its URL to a model.

    POST   /v1/files                 multipart: `content` (the file), `metadata` (JSON), 201
    GET    /v1/files                 the account's files, as a page
    GET    /v1/files/{id}            the file object; its `urls.get` is this URL
    GET    /v1/files/{id}/download   the bytes (with the owner's token)
    DELETE /v1/files/{id}            204

A model given a file's `urls.get` (or its download URL) as input reads the upload, as
long as the prediction belongs to the file's account.
"""

from __future__ import annotations

import json
import time
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.handlers import HTTPRouteHandler

from replicate_simulator import problems
from replicate_simulator.engine import Engine
from replicate_simulator.gate import admit
from replicate_simulator.models import InvalidField
from replicate_simulator.uploads import Upload


def file_handlers(engine: Engine) -> list[HTTPRouteHandler]:
    def owned(request: Request[Any, Any, Any], account: str) -> Upload:
        upload = engine.uploads.get(request.path_params["file_id"], account)
        if upload is None:
            raise problems.not_found("File not found")
        return upload

    @post("/v1/files")
    async def create_file(request: Request[Any, Any, Any]) -> Response[Any]:
        _, account = await admit(engine, request, "file")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise problems.bad_request("Upload the file as multipart/form-data")
        form = await request.form()
        content = form.get("content")
        if not isinstance(content, UploadFile):
            raise problems.invalid_input(
                [InvalidField("required", "content", "content is required")]
            )
        data = await content.read()
        upload = engine.uploads.add(
            account,
            _text(form.get("filename")) or content.filename or "file",
            _text(form.get("type")) or content.content_type or "application/octet-stream",
            data,
            await _metadata(form.get("metadata")),
            time.time(),
        )
        return Response(upload.to_json(engine.base_url), status_code=201)

    @get("/v1/files")
    async def list_files(request: Request[Any, Any, Any]) -> Response[Any]:
        _, account = await admit(engine, request, "file")
        uploads = sorted(engine.uploads.of_account(account), key=lambda u: u.created_at, reverse=True)
        return Response({
            "next": None, "previous": None,
            "results": [u.to_json(engine.base_url) for u in uploads],
        })

    @get("/v1/files/{file_id:str}")
    async def get_file(request: Request[Any, Any, Any]) -> Response[Any]:
        _, account = await admit(engine, request, "file")
        return Response(owned(request, account).to_json(engine.base_url))

    @get("/v1/files/{file_id:str}/download")
    async def download_file(request: Request[Any, Any, Any]) -> Response[bytes]:
        _, account = await admit(engine, request, "file")
        upload = owned(request, account)
        return Response(upload.data, media_type=upload.content_type)

    @delete("/v1/files/{file_id:str}", status_code=204)
    async def delete_file(request: Request[Any, Any, Any]) -> None:
        _, account = await admit(engine, request, "file")
        if not engine.uploads.delete(request.path_params["file_id"], account):
            raise problems.not_found("File not found")

    return [create_file, list_files, get_file, download_file, delete_file]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


async def _metadata(value: object) -> dict[str, object]:
    """`metadata` arrives as a form field (Python client) or as a JSON part (Node client)."""
    if value is None:
        return {}
    raw = await value.read() if isinstance(value, UploadFile) else value
    document = raw or "{}"
    if not isinstance(document, str | bytes | bytearray):
        raise problems.bad_request("metadata must be a JSON object")
    try:
        parsed = json.loads(document)
    except ValueError as error:
        raise problems.bad_request("metadata must be a JSON object") from error
    if not isinstance(parsed, dict):
        raise problems.bad_request("metadata must be a JSON object")
    return parsed
