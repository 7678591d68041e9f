"""What every use case is handed: the ports, the catalogue, the policy and the settings."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import timedelta
from types import TracebackType

import attrs

from base_core.events import EventDispatcher
from base_core.image_urls import UrlPolicy
from base_core.ledger import DEFAULT_HOLD_TTL
from base_core.packs import PackCatalogue, builtin_packs
from base_core.ports import (
    Clock,
    IdFactory,
    InferenceProvider,
    InputLinks,
    OutputStore,
    PaymentGateway,
    UnitOfWork,
    UnitOfWorkFactory,
    WebhookTarget,
)
from base_core.purchases import Provider
from base_core.registry import ModelRegistry
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
    # Subscribers of the domain events (logs, metrics, the live feed).
    dispatcher: EventDispatcher = attrs.field(factory=EventDispatcher)
    # Where results are copied before Replicate deletes them; None keeps Replicate's URLs.
    outputs: OutputStore | None = None
    # The credit packs on sale, and the payment providers configured to sell them.
    packs: PackCatalogue = attrs.field(factory=builtin_packs)
    payments: Mapping[Provider, PaymentGateway] = attrs.field(factory=dict)
    # How Replicate reads an upload given as input; None: a data URL read from the store.
    links: InputLinks | None = None

    def work(self) -> Work | UnitOfWork:
        """A unit of work whose committed events reach the dispatcher once it is closed;
        the unit of work itself when nobody has subscribed (asked here, at its start: a
        subscriber added meanwhile hears from the next one on)."""
        uow = self.uow()
        if not self.dispatcher.has_subscribers:
            return uow
        return Work(uow, self.dispatcher)


class Work:
    """`async with ctx.work() as uow:` — the unit of work, then the dispatch.

    The events are dispatched after the unit of work has ended (its connection or lock
    released), and only those it committed: a block that raises before its commit
    dispatches nothing, one that raises after it still tells what was committed.
    """

    __slots__ = ("_dispatcher", "_uow")

    def __init__(self, uow: UnitOfWork, dispatcher: EventDispatcher) -> None:
        self._uow = uow
        self._dispatcher = dispatcher

    def __aenter__(self) -> Awaitable[UnitOfWork]:
        return self._uow.__aenter__()  # awaited by `async with` itself: no coroutine of ours

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        uow = self._uow
        await uow.__aexit__(exc_type, exc, tb)
        events = uow.collect_events()
        if events:
            await self._dispatcher.dispatch(events)
