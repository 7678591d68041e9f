"""Stored copies of results, at the stable URLs `output_urls` point to.

No bearer token: an `<img src>` cannot send one. The URL is the secret instead: its last
part is a hash of Replicate's (random) URL for the output, so it cannot be guessed from a
generation id (adapters/storage/naming.py). A copy never changes, so it may be cached for
good.
"""

from __future__ import annotations

from litestar import Response, get
from litestar.params import FromPath

from adapters.storage.local import URL_PREFIX
from base_core.errors import NotFound
from entrypoints.http.dependencies import StudioDep
from entrypoints.http.problems import problem_responses


@get(
    URL_PREFIX + "/{generation_id:str}/{name:str}",
    tags=["outputs"],
    summary="A stored copy of a generation's output",
    description="The URLs come from a generation's `output_urls`; they outlive Replicate's "
    "one-hour retention.",
    responses=problem_responses(400, 404, 503),
)
async def stored_output(generation_id: FromPath[str], name: FromPath[str], studio: StudioDep) -> Response[bytes]:
    stored = await studio.stored_output(generation_id, name)
    if stored is None:
        raise NotFound("output", f"{generation_id}/{name}")
    return Response(
        stored.content,
        media_type=stored.media_type,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


__all__ = ["stored_output"]
