"""Names of stored copies: stable, unguessable, and safe to put in a path.

A copy is named `{n}-{digest}.{ext}`: `n` is the output's position, `digest` a hash of
Replicate's URL for it. Keeping the same output twice (two processes racing) gives the
same name, and nobody who has not seen Replicate's URL (whose path is itself random) can
guess it, so the copies can be served without a bearer token, which `<img src>` in a
Mini App cannot send anyway.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from urllib.parse import urlsplit

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
}
MEDIA_TYPES = {ext: media for media, ext in EXTENSIONS.items()} | {"jpeg": "image/jpeg", "bin": "application/octet-stream"}

_GENERATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME = re.compile(r"^(\d{1,3})-([0-9a-f]{32})\.(png|jpg|jpeg|webp|gif|bin)$")


def extension_for(source_url: str, media_type: str) -> str:
    if media_type in EXTENSIONS:
        return EXTENSIONS[media_type]
    suffix = urlsplit(source_url).path.rsplit(".", 1)[-1].lower()
    return suffix if suffix in MEDIA_TYPES else "bin"


def name_for(index: int, source_url: str, extension: str) -> str:
    digest = hashlib.sha256(source_url.encode()).hexdigest()[:32]
    return f"{index}-{digest}.{extension}"


def is_safe_id(generation_id: str) -> bool:
    return bool(_GENERATION_ID.match(generation_id))


def is_safe(generation_id: str, name: str) -> bool:
    """Whether the pair can only name a file inside the store (no `..`, no slashes)."""
    return is_safe_id(generation_id) and bool(_NAME.match(name))


_UPLOAD_KEY = re.compile(r"^uploads/[0-9a-f]{32}\.(png|jpg|webp)$")


def output_key(generation_id: str, name: str) -> str:
    return f"{generation_id}/{name}"


def is_safe_key(key: str) -> bool:
    """Whether a key is one the store writes: a result's copy or an upload, nothing else."""
    if _UPLOAD_KEY.match(key):
        return True
    generation_id, slash, name = key.partition("/")
    return bool(slash) and is_safe(generation_id, name)


def media_type_of(name: str) -> str:
    extension = name.rsplit(".", 1)[-1]
    return MEDIA_TYPES.get(extension) or mimetypes.guess_type(name)[0] or "application/octet-stream"


__all__ = [
    "extension_for", "is_safe", "is_safe_id", "is_safe_key", "media_type_of", "name_for", "output_key",
]
