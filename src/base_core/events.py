"""What happened: the domain events the aggregates record when they change.

An aggregate's transition returns the new state, which has recorded the events of that
change (`RecordsEvents.recorded`, shown as event objects by `events`). The unit of work
takes them from what it saves (`EventLog.collect`) and, once it has committed, hands them
to the `EventDispatcher`; a unit of work that rolls back dispatches nothing. Logging,
metrics and the live feed subscribe to the dispatcher.

Events are small frozen values in the product's words: ids, amounts, states, times. They
never carry secrets or user input (no prompts, no tokens' secrets). A transition records
an event as its class and its fields (`Recorded`), and the event object is made only when
it is handed out: a studio that nobody listens to (an embedder's, without logs or
metrics) builds none, and one that is listened to builds each once. The generation and
credit events are recorded by position (`at`, then the base class's fields, then their
own, in order: the transitions every generation goes through, `Generation` and
`CreditAccount._post`), and the contract tests compare whole dispatched events, field by
field, with what a lifecycle did; everything else names the fields (`named`, which the
type checker holds to the event's class as it would a call of it).

    GenerationEvent        generation_id, user_id, version, at
    ├── GenerationAccepted     credits held, stored as pending
    ├── GenerationSubmitted    Replicate took it (processing)
    ├── GenerationCompleted / GenerationFailed / GenerationCanceled   the three endings
    ├── GenerationDeleted      hidden from its user
    ├── OutputsKept            results copied into the output store
    └── OutputsNotKept         copying them failed this time (dispatched, not stored)
    CreditEvent            user_id, amount, balance, at
    ├── CreditsGranted / CreditsDeducted   grants, initial credits, admin corrections
    ├── CreditsHeld            a generation's price reserved
    ├── CreditsSettled         the reservation became the charge
    ├── CreditsRefunded        the reservation came back (void)
    └── CreditsPurchased       a paid purchase credited its pack (counted once per payment)
    TokenEvent             token_id, label, at
    ├── TokenAdded / TokenEnabled
    ├── TokenCooledDown        rate-limited or failing: out of rotation until `until`
    └── TokenRetired           rejected, out of credit, or disabled by an operator
    PurchaseEvent          purchase_id, user_id, provider, at
    ├── PurchaseStarted        a checkout (invoice link, Checkout Session) was asked for
    ├── PurchasePaid           paid and credited
    ├── PurchaseRefunded       refunded at the provider; `deducted` taken back, `shortfall` not
    ├── PurchaseEnded          expired or failed before any payment
    └── PurchaseNeedsReview    money arrived that credited nothing (wrong amount, second charge)
    UserRegistered
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any, ParamSpec, TypeVar

import attrs

A = TypeVar("A", bound="RecordsEvents")
P = ParamSpec("P")


@attrs.frozen(slots=False)
class DomainEvent:
    at: datetime


# Generations


@attrs.frozen(slots=False)
class GenerationEvent(DomainEvent):
    generation_id: str
    user_id: str
    # The generation's version after this change (`Generation.version`); 0 when the event
    # changed nothing stored (OutputsNotKept). Left out of equality: two events telling
    # the same thing are equal whichever version they were numbered with.
    version: int = attrs.field(eq=False)


@attrs.frozen(slots=False)
class GenerationAccepted(GenerationEvent):
    model_id: str
    action: str
    cost: int


@attrs.frozen(slots=False)
class GenerationSubmitted(GenerationEvent):
    prediction_id: str
    token_id: str | None


@attrs.frozen(slots=False)
class GenerationEnded(GenerationEvent):
    """One of the three endings; `accepted_at` tells how long it took."""

    model_id: str
    action: str
    prediction_id: str | None
    accepted_at: datetime


@attrs.frozen(slots=False)
class GenerationCompleted(GenerationEnded):
    outputs: int


@attrs.frozen(slots=False)
class GenerationFailed(GenerationEnded):
    message: str


@attrs.frozen(slots=False)
class GenerationCanceled(GenerationEnded):
    message: str


@attrs.frozen(slots=False)
class GenerationDeleted(GenerationEvent):
    pass


@attrs.frozen(slots=False)
class OutputsKept(GenerationEvent):
    outputs: int


@attrs.frozen(slots=False)
class OutputsNotKept(GenerationEvent):
    """Copying the results failed (nothing changed; the reconciler tries again)."""

    reason: str


# Credits


@attrs.frozen(slots=False)
class CreditEvent(DomainEvent):
    user_id: str
    amount: int  # always positive; the event's kind says which way it went
    balance: int  # after the change
    key: str  # the ledger entry's key


@attrs.frozen(slots=False)
class CreditsGranted(CreditEvent):
    reason: str


@attrs.frozen(slots=False)
class CreditsDeducted(CreditEvent):
    reason: str


@attrs.frozen(slots=False)
class CreditsHeld(CreditEvent):
    hold_key: str


@attrs.frozen(slots=False)
class CreditsSettled(CreditEvent):
    """`amount` was charged; `refunded` of the hold came back."""

    hold_key: str
    refunded: int


@attrs.frozen(slots=False)
class CreditsRefunded(CreditEvent):
    hold_key: str


@attrs.frozen(slots=False)
class CreditsPurchased(CreditEvent):
    """A payment credited `amount` credits: what a "credits purchased" counter counts."""

    purchase_id: str
    provider: str
    pack_id: str


# Purchases


@attrs.frozen(kw_only=True, slots=False)
class PurchaseEvent(DomainEvent):
    purchase_id: str
    user_id: str
    provider: str


@attrs.frozen(kw_only=True, slots=False)
class PurchaseStarted(PurchaseEvent):
    pack_id: str
    credits: int
    amount: int
    currency: str


@attrs.frozen(kw_only=True, slots=False)
class PurchasePaid(PurchaseEvent):
    pack_id: str
    credits: int
    amount: int
    currency: str


@attrs.frozen(kw_only=True, slots=False)
class PurchaseRefunded(PurchaseEvent):
    deducted: int
    shortfall: int


@attrs.frozen(kw_only=True, slots=False)
class PurchaseEnded(PurchaseEvent):
    status: str
    reason: str


@attrs.frozen(kw_only=True, slots=False)
class PurchaseNeedsReview(PurchaseEvent):
    reason: str


# Tokens


@attrs.frozen(kw_only=True, slots=False)
class TokenEvent(DomainEvent):
    token_id: str
    label: str


@attrs.frozen(kw_only=True, slots=False)
class TokenAdded(TokenEvent):
    pass


@attrs.frozen(kw_only=True, slots=False)
class TokenEnabled(TokenEvent):
    pass


@attrs.frozen(kw_only=True, slots=False)
class TokenCooledDown(TokenEvent):
    until: datetime
    reason: str


@attrs.frozen(kw_only=True, slots=False)
class TokenRetired(TokenEvent):
    reason: str


# Users


@attrs.frozen(kw_only=True, slots=False)
class UserRegistered(DomainEvent):
    user_id: str


# What an aggregate records of a change: the event's class, then its fields by position
# (`(GenerationSubmitted, at, generation_id, …)`), or a partial of the class that names
# them (`named`), alone. The event itself is made from it when it is handed out (`made`):
# a unit of work that nobody listens to builds no event objects at all.
Recorded = tuple[Any, ...]


def made(recorded: Recorded) -> DomainEvent:
    event: DomainEvent = recorded[0](*recorded[1:])
    return event


def named(kind: Callable[P, DomainEvent], /, *args: P.args, **fields: P.kwargs) -> Recorded:
    """The record of an event whose fields are given by name (type-checked against the
    event's class, as a call of it would be)."""
    return (partial(kind, *args, **fields),)


class RecordsEvents:
    """An aggregate whose changes record their domain events (a frozen attrs class without
    slots, like every aggregate).

    What a change recorded is kept in `recorded`, a slot beside the instance's dict: not
    part of the state, so not compared, copied with it or stored. A new state is made with
    what made it (`with_recorded`); the unit of work takes it when the state is saved
    (`EventLog.collect`), which leaves the slot empty: a stored object, which a memory
    store hands to every reader, never carries events, and saving it again records nothing
    twice. An aggregate made by `__init__` (read from a database, built in a test) has
    recorded nothing; one made without it (`frozen.restore`) is given its record by its
    maker, and `frozen.replace` carries it over.
    """

    __slots__ = ("recorded",)
    recorded: tuple[Recorded, ...]

    def __attrs_post_init__(self) -> None:  # attrs's __init__ calls it; a transition sets its own
        _set_attribute(self, "recorded", ())

    @property
    def events(self) -> tuple[DomainEvent, ...]:
        """The events of the changes that made this state since it was read or saved."""
        return tuple(map(made, self.recorded))


_set_attribute = object.__setattr__


def with_recorded(aggregate: A, recorded: tuple[Recorded, ...]) -> A:
    """`aggregate`, a new state that nobody else holds yet, with what made it recorded."""
    _set_attribute(aggregate, "recorded", recorded)
    return aggregate


class EventLog:
    """A unit of work's events: collected from the aggregates it saves, kept by a commit,
    dropped by a rollback. One per unit of work, never shared. It keeps the records; the
    events are made when they are asked for (`pending`, `take`)."""

    __slots__ = ("_committed", "_pending")

    def __init__(self) -> None:
        self._pending: list[Recorded] = []
        self._committed: list[Recorded] = []

    def collect(self, aggregate: RecordsEvents) -> None:
        """Take what `aggregate` recorded, for the next commit, leaving it none."""
        recorded = aggregate.recorded
        if recorded:
            self._pending.extend(recorded)
            _set_attribute(aggregate, "recorded", ())

    @property
    def pending(self) -> list[DomainEvent]:
        """What the next commit keeps (an adapter may announce it in the same transaction)."""
        return list(map(made, self._pending))

    def commit(self) -> None:
        if self._pending:
            self._committed.extend(self._pending)
            self._pending = []

    def rollback(self) -> None:
        self._pending = []

    def take(self) -> list[DomainEvent]:
        """The committed events not taken yet."""
        return list(map(made, self.close()))

    def close(self) -> list[Recorded]:
        """At the end of a unit of work: what was not committed dropped, the records of
        what was taken (`made` makes their events)."""
        if self._pending:
            self._pending = []
        committed, self._committed = self._committed, []
        return committed


Handler = Callable[[Any], None | Awaitable[None]]
ErrorHandler = Callable[[DomainEvent, Handler, Exception], None]


class EventDispatcher:
    """Hands committed events to their subscribers, in order.

    A subscriber names the event classes it wants (a base class takes its subclasses);
    it may be a plain function or a coroutine function. A subscriber that raises does not
    stop the others nor reach the use case, whose work is already committed: the error
    goes to `on_error`, by default to the running event loop's exception handler (which
    logs it).
    """

    def __init__(self, on_error: ErrorHandler | None = None) -> None:
        self._subscriptions: list[tuple[tuple[type[DomainEvent], ...], Handler]] = []
        self._routes: dict[type[DomainEvent], tuple[Handler, ...]] = {}
        self._on_error = on_error or _report_to_loop
        self.has_subscribers = False  # read after every unit of work: an attribute, not a call

    def subscribe(self, handler: Handler, *kinds: type[DomainEvent]) -> None:
        self._subscriptions.append((kinds or (DomainEvent,), handler))
        self._routes.clear()
        self.has_subscribers = True

    def unsubscribe(self, handler: Handler) -> None:
        self._subscriptions = [(k, h) for k, h in self._subscriptions if h is not handler]
        self._routes.clear()
        self.has_subscribers = bool(self._subscriptions)

    async def dispatch(self, events: Iterable[DomainEvent]) -> None:
        if not self._subscriptions:
            return
        for event in events:
            for handler in self._handlers_for(type(event)):
                try:
                    result = handler(event)
                    # A plain function answers None: no awaitable check (an ABC's) for it.
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception as error:  # a subscriber's fault is not the use case's
                    self._on_error(event, handler, error)

    def _handlers_for(self, kind: type[DomainEvent]) -> tuple[Handler, ...]:
        handlers = self._routes.get(kind)
        if handlers is None:
            handlers = self._routes[kind] = tuple(
                handler for kinds, handler in self._subscriptions if issubclass(kind, kinds)
            )
        return handlers


def _report_to_loop(event: DomainEvent, handler: Handler, error: Exception) -> None:
    context = {
        "message": f"subscriber {getattr(handler, '__qualname__', handler)!s} failed on "
        f"{type(event).__name__}",
        "exception": error,
    }
    try:
        asyncio.get_running_loop().call_exception_handler(context)
    except RuntimeError:  # no running loop: nothing to report to
        pass


__all__ = [
    "CreditEvent",
    "CreditsDeducted",
    "CreditsGranted",
    "CreditsHeld",
    "CreditsPurchased",
    "CreditsRefunded",
    "CreditsSettled",
    "DomainEvent",
    "EventDispatcher",
    "EventLog",
    "GenerationAccepted",
    "GenerationCanceled",
    "GenerationCompleted",
    "GenerationDeleted",
    "GenerationEnded",
    "GenerationEvent",
    "GenerationFailed",
    "GenerationSubmitted",
    "OutputsKept",
    "OutputsNotKept",
    "PurchaseEnded",
    "PurchaseEvent",
    "PurchaseNeedsReview",
    "PurchasePaid",
    "PurchaseRefunded",
    "PurchaseStarted",
    "TokenAdded",
    "TokenCooledDown",
    "TokenEnabled",
    "TokenEvent",
    "TokenRetired",
    "Recorded",
    "RecordsEvents",
    "UserRegistered",
    "made",
    "named",
    "with_recorded",
]
