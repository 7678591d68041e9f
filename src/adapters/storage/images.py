"""Checking an uploaded image before anything is stored (Pillow).

The bytes must be the image they claim: the declared type is one of PNG, JPEG or WebP,
Pillow opens them as that format and no other, decodes every pixel (a PNG header on
random bytes fails here), within a pixel budget checked before decoding (a
decompression bomb is refused from its header), and nothing follows the image's end (a
polyglot, an image with an archive or a page appended, is refused). The image is then
encoded again by Pillow, so what is stored is only pixels and the metadata kept on
purpose: the EXIF block without its GPS part (orientation and the rest stay).
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

from base_core.errors import InvalidRequest, UnsupportedMediaType
from base_core.uploads import UPLOAD_TYPES, UploadedImage

MAX_PIXELS = 40_000_000  # 40 megapixels: above any camera photo a user edits here
_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_GPS_IFD = 0x8825
_PNG_END = b"IEND\xaeB`\x82"


def normalized_type(declared: str) -> str:
    media_type = declared.split(";", 1)[0].strip().lower()
    return _ALIASES.get(media_type, media_type)


def inspect_upload(content: bytes, declared: str) -> UploadedImage:
    """The verified, cleaned image; InvalidRequest (400) or UnsupportedMediaType (415)."""
    media_type = normalized_type(declared)
    if media_type not in UPLOAD_TYPES:
        raise UnsupportedMediaType(media_type, tuple(UPLOAD_TYPES))
    if not content:
        raise InvalidRequest("file", "is empty")
    kind = _FORMATS[media_type]
    if _has_trailing_data(kind, content):
        raise InvalidRequest("file", f"has data after the end of the {kind} image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[kind]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise InvalidRequest("file", f"{width}×{height} is more than {MAX_PIXELS} pixels")
                image.load()
                return UploadedImage(_reencoded(image, kind), media_type, width, height)
    except InvalidRequest:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidRequest("file", f"is not a {kind} image") from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, MemoryError):
        raise InvalidRequest("file", f"is not a valid {kind} image (it could not be decoded)") from None


def _has_trailing_data(kind: str, content: bytes) -> bool:
    if kind == "PNG":
        return not content.endswith(_PNG_END)
    if kind == "JPEG":
        return not content.rstrip(b"\x00").endswith(b"\xff\xd9")
    if len(content) < 12 or content[:4] != b"RIFF":
        return False  # Pillow refuses it as not WebP
    declared = int(struct.unpack("<I", content[4:8])[0]) + 8
    return len(content) > declared + (declared & 1)


def _reencoded(image: Image.Image, kind: str) -> bytes:
    exif = image.getexif()
    if _GPS_IFD in exif:
        del exif[_GPS_IFD]
    out = io.BytesIO()
    options: dict[str, object] = {"exif": exif.tobytes()} if len(exif) else {}
    if kind == "JPEG":
        frame = image.convert("RGB") if image.mode not in ("RGB", "L", "CMYK") else image
        frame.save(out, "JPEG", quality=95, **options)
    elif kind == "WEBP":
        image.save(out, "WEBP", quality=95, **options)
    else:
        image.save(out, "PNG", **options)
    return out.getvalue()


__all__ = ["MAX_PIXELS", "inspect_upload", "normalized_type"]
