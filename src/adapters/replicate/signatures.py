"""Standard Webhooks signatures, as Replicate signs its webhooks.

    webhook-id: msg_...            the same on every retry of one delivery
    webhook-timestamp: 1732441200  unix seconds
    webhook-signature: v1,<b64> v1,<b64>   valid when any entry matches

The signed content is `{id}.{timestamp}.{raw body}`, HMAC-SHA256 keyed with the base64
part of the `whsec_...` secret. Written here rather than taken from
`replicate.webhooks.validate`, which raises AttributeError for a plain string secret and
binascii.Error for a malformed signature: every failure here is Unauthenticated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

import attrs

from base_core.errors import Unauthenticated

SECRET_PREFIX = "whsec_"
MAX_ID_LENGTH = 256
MAX_SIGNATURES = 32  # a header with more entries than this is not from Replicate


@attrs.frozen
class SignedHeaders:
    webhook_id: str
    timestamp: int
    signatures: tuple[bytes, ...]

    def signed_content(self, body: bytes) -> bytes:
        return f"{self.webhook_id}.{self.timestamp}.".encode() + body


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders:
    lowered = {str(name).lower(): value for name, value in headers.items()}
    webhook_id = _header(lowered, "webhook-id")
    raw_timestamp = _header(lowered, "webhook-timestamp")
    raw_signatures = _header(lowered, "webhook-signature")
    if len(webhook_id) > MAX_ID_LENGTH or not webhook_id.isprintable():
        raise Unauthenticated("malformed webhook-id header")
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit() and len(raw_timestamp) <= 12):
        raise Unauthenticated("malformed webhook-timestamp header")
    entries = raw_signatures.split()
    if len(entries) > MAX_SIGNATURES:
        raise Unauthenticated("malformed webhook-signature header")
    signatures = tuple(sig for sig in (_v1_signature(entry) for entry in entries) if sig is not None)
    if not signatures:
        raise Unauthenticated("no v1 signature in the webhook-signature header")
    return SignedHeaders(webhook_id, int(raw_timestamp), signatures)


def check_timestamp(signed: SignedHeaders, now: datetime, tolerance_seconds: float) -> None:
    """Refuse deliveries signed too long ago (replays) or in the future."""
    if abs(now.timestamp() - signed.timestamp) > tolerance_seconds:
        raise Unauthenticated("webhook timestamp outside the tolerance")


def secret_key(secret: str) -> bytes | None:
    """The HMAC key of a `whsec_<base64>` secret, or None when it is not one."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def signature_matches(secret: str, signed: SignedHeaders, body: bytes) -> bool:
    key = secret_key(secret)
    if key is None:
        return False
    expected = hmac.new(key, signed.signed_content(body), hashlib.sha256).digest()
    # Compare against every entry, never stopping early, so timing says nothing either.
    found = False
    for candidate in signed.signatures:
        found |= hmac.compare_digest(expected, candidate)
    return found


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<b64>` entry, the way Replicate signs (for tests and local tools)."""
    key = secret_key(secret)
    if key is None:
        raise ValueError("not a whsec_ secret")
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Unauthenticated(f"missing {name} header")
    return value.strip()


def _v1_signature(entry: str) -> bytes | None:
    version, separator, encoded = entry.partition(",")
    if version != "v1" or not separator:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
