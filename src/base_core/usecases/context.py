"""What every use case is handed: the ports, the catalogue, the policy and the settings."""

from __future__ import annotations

from datetime import timedelta

import attrs

from base_core.image_urls import UrlPolicy
from base_core.registry import ModelRegistry
from base_core.ledger import DEFAULT_HOLD_TTL
from base_core.ports import (
    Clock,
    GenerationEvents,
    IdFactory,
    InferenceProvider,
    NoEvents,
    OutputStore,
    UnitOfWorkFactory,
    WebhookTarget,
)
from base_core.tokens import RotationPolicy


@attrs.frozen
class StudioConfig:
    initial_credits: int = 100
    max_in_flight_per_user: int = 8
    # How long to wait before asking again when a user is at their in-flight cap.
    in_flight_retry_after: float = 5.0
    hold_ttl: timedelta = DEFAULT_HOLD_TTL
    webhook: WebhookTarget | None = None
    urls: UrlPolicy = UrlPolicy()
    admin_user_ids: frozenset[str] = frozenset()


@attrs.frozen
class Context:
    uow: UnitOfWorkFactory
    inference: InferenceProvider
    registry: ModelRegistry
    clock: Clock
    ids: IdFactory
    policy: RotationPolicy = RotationPolicy()
    config: StudioConfig = StudioConfig()
    events: GenerationEvents = NoEvents()
    # Where results are copied before Replicate deletes them; None keeps Replicate's URLs.
    outputs: OutputStore | None = None
