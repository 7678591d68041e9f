"""Replicate: the inference provider over the official client, and webhook verification."""

from adapters.replicate.inference import DEFAULT_BASE_URL, ReplicateInference

__all__ = ["DEFAULT_BASE_URL", "ReplicateInference"]
