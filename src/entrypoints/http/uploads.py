"""Uploads: a user's own PNG, JPEG or WebP, to edit, upscale or cut out.

`POST /api/uploads` takes the image as the raw body (`Content-Type: image/png`, ...) or as
`multipart/form-data` with exactly one file. The body is read in chunks and refused (413)
as soon as it passes BASE_MAX_UPLOAD_BYTES; the bytes are checked by Pillow
(adapters/storage/images.py) before anything is stored. The answer's `url` is what
`input_image_url` takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.openapi.spec import (
    Encoding,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath

from adapters.storage.images import inspect_upload, normalized_type
from adapters.storage.links import OutputLinks
from base_core.errors import InvalidRequest, TooLarge
from base_core.uploads import UPLOAD_TYPES, Upload
from entrypoints.bootstrap import Services
from entrypoints.http.dependencies import (
    CALLER,
    SECURITY,
    CallerDep,
    ServicesDep,
    StudioDep,
    path_id,
)
from entrypoints.http.problems import problem_responses

# Room for the multipart framing around a file at the limit.
MULTIPART_OVERHEAD = 16 * 1024
HARD_LIMIT = 100 * 1024 * 1024 + MULTIPART_OVERHEAD


_BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


@dataclass
class UploadOperation(Operation):
    """The upload's body as it really is: an image, raw or as one multipart file (the
    handler reads the stream itself, so Litestar cannot infer it)."""

    def __post_init__(self) -> None:
        content = {media: OpenAPIMediaType(schema=_BINARY) for media in UPLOAD_TYPES}
        content["multipart/form-data"] = OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.OBJECT, required=["file"], properties={"file": _BINARY}),
            # The file part names its type; without it (text/plain) it is refused with a 415.
            encoding={"file": Encoding(content_type=", ".join(UPLOAD_TYPES))},
        )
        self.request_body = RequestBody(content=content, required=True, description="a PNG, JPEG or WebP image")


class UploadOut(msgspec.Struct):
    id: str
    url: str
    content_type: str
    width: int
    height: int
    bytes: int


def upload_out(upload: Upload, url: str) -> UploadOut:
    return UploadOut(
        id=upload.id, url=url, content_type=upload.content_type,
        width=upload.width, height=upload.height, bytes=upload.bytes,
    )


async def read_capped(request: Request[Any, Any, Any], limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def one_file(body: bytes, content_type: str) -> tuple[bytes, str]:
    """The single file part of a multipart/form-data body: its bytes and declared type."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise InvalidRequest("file", "the multipart body could not be read")
    files = [part for part in message.iter_parts() if isinstance(part, Message) and part.get_filename() is not None]
    if len(files) != 1:
        raise InvalidRequest("file", f"send exactly one file (got {len(files)})")
    part = files[0]
    payload = part.get_payload(decode=True)
    return (payload if isinstance(payload, bytes) else b""), part.get_content_type()


class UploadController(Controller):
    path = "/api/uploads"
    tags = ["uploads"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = CALLER
    security = SECURITY

    @post(
        "/",
        status_code=201,
        summary="Upload an image to use as input_image_url",
        description="A PNG, JPEG or WebP as the raw body (its Content-Type) or as "
        "multipart/form-data with one file; at most BASE_MAX_UPLOAD_BYTES (10 MiB by default). "
        "EXIF location data is removed.",
        responses=problem_responses(400, 401, 413, 415, 503),
        request_max_body_size=HARD_LIMIT,
        operation_class=UploadOperation,
    )
    async def create(
        self, request: Request[Any, Any, Any], caller: CallerDep, studio: StudioDep, services: ServicesDep
    ) -> UploadOut:
        limit = services.max_upload_bytes
        content_type = request.headers.get("content-type", "")
        multipart = normalized_type(content_type) == "multipart/form-data"
        body = await read_capped(request, limit + (MULTIPART_OVERHEAD if multipart else 0))
        if multipart:
            body, content_type = one_file(body, content_type)
            if len(body) > limit:
                raise TooLarge(limit)
        image = inspect_upload(body, content_type)
        upload = await studio.add_upload(caller.user_id, image)
        return upload_out(upload, _links(services).url(upload.key, _base(request)))

    @get("/{upload_id:str}", summary="One of the caller's uploads", responses=problem_responses(400, 401, 404))
    async def read(
        self, upload_id: FromPath[str], request: Request[Any, Any, Any], caller: CallerDep,
        studio: StudioDep, services: ServicesDep,
    ) -> UploadOut:
        upload = await studio.upload(caller.user_id, path_id("upload", upload_id))
        return upload_out(upload, _links(services).url(upload.key, _base(request)))


def _links(services: Services) -> OutputLinks:
    return services.links if services.links is not None else OutputLinks()


def _base(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


__all__ = ["UploadController", "UploadOut"]
