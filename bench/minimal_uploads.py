"""The yardstick for an upload: check, strip metadata, put, answer.

The JPEG body is read whole, its end checked, decoded by Pillow (the check that it is an
image) and encoded again without its metadata; the result is put into the bucket with
obstore, the client .base's store uses, and its row inserted. BENCH_S3_ENDPOINT,
BENCH_S3_BUCKET, BENCH_S3_PREFIX and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY name the
bucket.
"""

from __future__ import annotations

import functools
import io
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import obstore
import sqlalchemy as sa
from litestar import Request, post
from litestar.exceptions import HTTPException
from obstore.store import S3Store
from PIL import Image

from bench.minimal_auth import caller

MAX_BODY = 10 * 1024 * 1024


@functools.cache
def store() -> S3Store:
    return S3Store(
        os.environ["BENCH_S3_BUCKET"], prefix=os.environ.get("BENCH_S3_PREFIX") or None,
        endpoint=os.environ["BENCH_S3_ENDPOINT"], region="us-east-1",
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        client_options={"allow_http": True, "timeout": "30s"},
    )


def cleaned(body: bytes) -> tuple[bytes, int, int]:
    if not body.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise HTTPException(status_code=400)
    try:
        with Image.open(io.BytesIO(body), formats=["JPEG"]) as image:
            image.load()
            out = io.BytesIO()
            image.save(out, "JPEG", quality=95)  # no exif= : the metadata stays behind
            return out.getvalue(), image.width, image.height
    except OSError:
        raise HTTPException(status_code=400) from None


@post("/api/uploads", status_code=201, request_max_body_size=MAX_BODY)
async def upload(request: Request[Any, Any, Any]) -> dict[str, Any]:
    user_id = caller(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "image/jpeg":
        raise HTTPException(status_code=415)
    content, width, height = cleaned(await request.body())
    upload_id = uuid.uuid4().hex
    key = f"uploads/{upload_id}.jpg"
    await obstore.put_async(store(), key, content, attributes={"Content-Type": "image/jpeg"})
    env = request.app.state.env
    async with env.engine.connect() as c:
        await c.execute(sa.text(
            "INSERT INTO uploads (id, user_id, key, content_type, width, height, bytes, created_at) "
            "VALUES (:id, :u, :k, 'image/jpeg', :w, :h, :b, :now)"),
            {"id": upload_id, "u": user_id, "k": key, "w": width, "h": height, "b": len(content),
             "now": env.ts(datetime.now(UTC))})
        await c.commit()
    return {"id": upload_id, "url": f"/outputs/{key}", "content_type": "image/jpeg",
            "width": width, "height": height, "bytes": len(content)}


ROUTES = [upload]
