"""Uploads: a user's own image, kept in the output store, usable as a generation's input.

An upload is stored under `uploads/{id}.{ext}`, the id random: the key names neither the
user nor the file, and cannot be guessed. Its URL (built like an output's, from the key)
is what a client passes as `input_image_url`; the core recognizes it by its last two path
segments, whichever host it was built for, so a URL stays valid across moves of the
service. Only the upload's owner can use it.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

import attrs

from base_core.errors import NotFound

UPLOAD_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
UPLOAD_PREFIX = "uploads/"
_UPLOAD_PATH = re.compile(r"/uploads/([0-9a-f]{32})\.(png|jpg|webp)$")


@attrs.frozen
class UploadedImage:
    """An image the edge has verified: it is what it claims, its metadata cleaned."""

    content: bytes = attrs.field(repr=False)
    media_type: str
    width: int
    height: int


@attrs.frozen
class Upload:
    id: str
    user_id: str
    key: str
    content_type: str
    width: int
    height: int
    bytes: int
    created_at: datetime

    def ensure_owned_by(self, user_id: str) -> None:
        if self.user_id != user_id:
            raise NotFound("upload", self.id)  # another user's upload does not exist for you


def upload_key(upload_id: str, media_type: str) -> str:
    return f"{UPLOAD_PREFIX}{upload_id}.{UPLOAD_TYPES[media_type]}"


def upload_id_in(url: str | None) -> str | None:
    """The upload a URL names (`…/uploads/{id}.{ext}`, any host), or None."""
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    found = _UPLOAD_PATH.search(path)
    return found.group(1) if found else None


__all__ = ["UPLOAD_PREFIX", "UPLOAD_TYPES", "Upload", "UploadedImage", "upload_id_in", "upload_key"]
