"""Standard Webhooks signatures, as Replicate signs its webhooks.

    webhook-id: msg_...            the same on every retry of one delivery
    webhook-timestamp: 1732441200  unix seconds
    webhook-signature: v1,<b64> v1,<b64>   valid when any entry matches

The signed content is `{id}.{timestamp}.{raw body}`, HMAC-SHA256 keyed with the base64
part of the `whsec_...` secret. The expected signature is computed by the `standardwebhooks`
library (`Webhook.sign`). Its `Webhook.verify` is not used whole: it reads the wall clock
(no injected clock, a fixed five minutes), stops at the first matching entry, and raises
ValueError or binascii.Error for a malformed header. The header limits, the timestamp
window against our clock and the every-entry constant-time comparison stay here, and every
failure, the library's included, is Unauthenticated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

import attrs
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from base_core.errors import Unauthenticated

SECRET_PREFIX = "whsec_"
MAX_ID_LENGTH = 256
MAX_SIGNATURES = 32  # a header with more entries than this is not from Replicate


@attrs.frozen
class SignedHeaders:
    webhook_id: str
    timestamp: int
    signatures: tuple[bytes, ...]


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


def expected_signature(secret: str, signed: SignedHeaders, body: bytes) -> bytes | None:
    """The signature `secret` gives this delivery, by `standardwebhooks`; None when the
    secret is not a key or the body is not text (then nothing can match)."""
    try:
        webhook = Webhook(secret.strip())
        entry = webhook.sign(signed.webhook_id, datetime.fromtimestamp(signed.timestamp, UTC), body.decode())
    except (EmptyWebhookSecretError, binascii.Error, ValueError, OverflowError, OSError):
        return None
    return base64.b64decode(entry.partition(",")[2])


def signature_matches(secret: str, signed: SignedHeaders, body: bytes) -> bool:
    expected = expected_signature(secret, signed, body)
    if expected is None:
        return False
    # Compare against every entry, never stopping early, so timing says nothing either.
    found = False
    for candidate in signed.signatures:
        found |= hmac.compare_digest(expected, candidate)
    return found


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<b64>` entry, the way Replicate signs (for tests and local tools).

    Plain HMAC, not the library, so tests check the verifier against an independent signer."""
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
