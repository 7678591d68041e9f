"""Replicate: the inference provider over the official client, and webhook verification."""

from adapters.replicate.inference import DEFAULT_BASE_URL, ReplicateInference
from adapters.replicate.signatures import sign
from adapters.replicate.webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    WEBHOOK_PATH,
    ReplicateWebhooks,
    SecretFetcher,
    WebhookSecrets,
    webhook_target,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TOLERANCE_SECONDS",
    "WEBHOOK_PATH",
    "ReplicateInference",
    "ReplicateWebhooks",
    "SecretFetcher",
    "WebhookSecrets",
    "sign",
    "webhook_target",
]
