"""Stored copies of results and uploads, at `/outputs/{key}`, streamed from the store.

Any process serves any object: the bytes come from the output store (a local directory
or a bucket), not from the process that copied them. No bearer token: an `<img src>`
cannot send one. The key is the secret instead: a result's last part is a hash of
Replicate's (random) URL, an upload's a random id (adapters/storage/naming.py). An object
never changes, so it is cached for good (`ETag`, `Cache-Control: immutable`), and `Range`
requests are answered with 206 (one range; a suffix or multi-range request gets the
whole object).
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Stream

from adapters.storage.local import URL_PREFIX
from adapters.storage.naming import is_safe_key
from base_core.errors import NotFound
from entrypoints.http.dependencies import StudioDep
from entrypoints.http.problems import problem_responses

_RANGE = re.compile(r"^bytes=(\d{1,15})-(\d{0,15})$")
_UNBOUNDED = 1 << 62
IMMUTABLE = "public, max-age=31536000, immutable"


def _range_of(header: str | None) -> tuple[int, int] | None:
    found = _RANGE.match((header or "").strip())
    if found is None:
        return None
    start = int(found[1])
    end = int(found[2]) + 1 if found[2] else _UNBOUNDED
    return (start, end) if end > start else None


@get(
    URL_PREFIX + "/{key:path}",
    tags=["outputs"],
    summary="A stored copy of a generation's output, or an upload",
    description="The URLs come from a generation's `output_urls` and an upload's `url`; they "
    "outlive Replicate's one-hour retention. `Range` and `If-None-Match` are honoured.",
    responses=problem_responses(400, 404, 503),
)
async def stored_output(key: FromPath[str], request: Request[Any, Any, Any], studio: StudioDep) -> Response[Any]:
    key = key.lstrip("/")
    if not is_safe_key(key):
        raise NotFound("output", key)
    wanted = _range_of(request.headers.get("range"))
    stored = await studio.stored_object(key, wanted)
    if stored is None:
        raise NotFound("output", key)
    headers = {
        "Cache-Control": IMMUTABLE,
        "ETag": stored.etag,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match", "").strip() in (stored.etag, "*"):
        await _close(stored.chunks)
        return Response(b"", status_code=304, headers=headers)
    if wanted is not None and stored.start >= stored.size:
        await _close(stored.chunks)
        headers["Content-Range"] = f"bytes */{stored.size}"
        return Response(b"", status_code=416, headers=headers)
    headers["Content-Length"] = str(stored.end - stored.start)
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {stored.start}-{stored.end - 1}/{stored.size}"
    return Stream(stored.chunks, media_type=stored.media_type, headers=headers, status_code=status)


async def _close(chunks: Any) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


__all__ = ["stored_output"]
