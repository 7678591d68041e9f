"""Domain events: recorded by the aggregates, collected by the unit of work, dispatched
after commit only, on every storage backend."""

from __future__ import annotations

import pytest

from base_core.errors import InsufficientCredits, TokenRateLimited
from base_core.events import (
    CreditsGranted,
    CreditsHeld,
    CreditsRefunded,
    CreditsSettled,
    DomainEvent,
    EventDispatcher,
    GenerationAccepted,
    GenerationCanceled,
    GenerationCompleted,
    GenerationDeleted,
    GenerationEvent,
    GenerationSubmitted,
    TokenAdded,
    TokenCooledDown,
    UserRegistered,
)
from base_core.registry import GenerationRequest, builtin_registry
from base_core.studio import Studio
from base_core.usecases import Context, StudioConfig
from base_testing import FakeInference, ManualClock, SequentialIds

REQUEST = GenerationRequest("create", "flux-schnell", prompt="a fox", settings={"num_outputs": 1})


class Recorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def __call__(self, event: DomainEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[type]:
        kinds = [type(e) for e in self.events]
        self.events.clear()
        return kinds


def make_studio(uow_factory, dispatcher: EventDispatcher, credits: int = 10) -> tuple[Studio, FakeInference]:
    clock = ManualClock()
    inference = FakeInference(clock)
    context = Context(
        uow=uow_factory, inference=inference, registry=builtin_registry(), clock=clock,
        ids=SequentialIds(), config=StudioConfig(initial_credits=credits), dispatcher=dispatcher,
    )
    return Studio(context), inference


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def studio(uow_factory, recorder):
    dispatcher = EventDispatcher()
    dispatcher.subscribe(recorder)
    return make_studio(uow_factory, dispatcher)


async def test_a_lifecycle_tells_every_step_in_order(studio, recorder) -> None:
    studio, inference = studio
    await studio.add_token("r8_events_token_0001")
    await studio.ensure_user("alice")
    assert recorder.kinds() == [TokenAdded, UserRegistered, CreditsGranted]

    generation = await studio.create_generation("alice", REQUEST)
    accepted, held, submitted = recorder.events
    assert recorder.kinds() == [GenerationAccepted, CreditsHeld, GenerationSubmitted]
    # Whole events, named field by field: the transitions build them by position.
    at, gid = generation.created_at, generation.id
    assert accepted == GenerationAccepted(
        at=at, generation_id=gid, user_id="alice", version=1, model_id="flux-schnell", action="create", cost=1
    )
    assert (held.amount, held.balance, held.hold_key) == (1, 9, f"hold:{generation.id}")
    assert submitted == GenerationSubmitted(
        at=generation.updated_at, generation_id=gid, user_id="alice", version=2,
        prediction_id=generation.prediction_id, token_id=generation.token_id,
    )
    assert (accepted.version, submitted.version, generation.version) == (1, 2, 2)  # not in ==

    done = await studio.apply_update(inference.complete(generation.prediction_id))
    completed, settled = recorder.events
    assert recorder.kinds() == [GenerationCompleted, CreditsSettled]
    assert completed == GenerationCompleted(
        at=done.updated_at, generation_id=gid, user_id="alice", version=3, model_id="flux-schnell",
        action="create", prediction_id=generation.prediction_id, accepted_at=generation.created_at, outputs=1,
    )
    assert (completed.version, done.version) == (3, 3)
    assert (settled.amount, settled.refunded, settled.balance) == (1, 0, 9)

    # A duplicate of the same news changes nothing and tells nothing.
    await studio.apply_update(inference.complete(generation.prediction_id))
    assert recorder.kinds() == []


async def test_deleting_a_running_generation_tells_the_cancel_the_refund_and_the_delete(studio, recorder) -> None:
    studio, _ = studio
    await studio.add_token("r8_events_token_0001")
    await studio.ensure_user("alice")
    generation = await studio.create_generation("alice", REQUEST)
    recorder.kinds()
    await studio.delete_generation("alice", generation.id)
    canceled, refunded, deleted = recorder.events
    assert recorder.kinds() == [GenerationCanceled, CreditsRefunded, GenerationDeleted]
    assert canceled.message == "canceled by the user" and refunded.balance == 10
    assert deleted.generation_id == generation.id


async def test_a_refused_request_tells_nothing(uow_factory, recorder) -> None:
    dispatcher = EventDispatcher()
    dispatcher.subscribe(recorder)
    studio, _ = make_studio(uow_factory, dispatcher, credits=0)
    await studio.add_token("r8_events_token_0001")
    await studio.ensure_user("alice")
    recorder.kinds()
    with pytest.raises(InsufficientCredits):
        await studio.create_generation("alice", REQUEST)
    assert recorder.kinds() == []


async def test_a_subscriber_hears_from_the_units_of_work_begun_after_it_subscribed(uow_factory, recorder) -> None:
    dispatcher = EventDispatcher()
    studio, _ = make_studio(uow_factory, dispatcher)
    await studio.ensure_user("alice")
    ctx = studio.context
    begun = ctx.work()  # nobody subscribed yet: nothing will hand its events out
    dispatcher.subscribe(recorder)
    async with begun as uow:
        account = await uow.ledger.account_for_update("alice")
        account, entry = account.grant(5, "grant:before", ctx.clock.now())
        await uow.ledger.post(account, entry)
        await uow.commit()
    assert recorder.kinds() == []
    await studio.adjust_credits("alice", 5, "a correction")
    assert recorder.kinds() == [CreditsGranted]
    assert await studio.balance("alice") == 20


async def test_a_rolled_back_unit_of_work_dispatches_nothing_and_a_committed_one_does(studio, recorder) -> None:
    studio, _ = studio
    await studio.ensure_user("alice")
    recorder.kinds()
    ctx = studio.context
    with pytest.raises(RuntimeError):
        async with ctx.work() as uow:
            account = await uow.ledger.account_for_update("alice")
            account, entry = account.grant(5, "grant:rolled-back", ctx.clock.now())
            await uow.ledger.post(account, entry)
            raise RuntimeError("the use case fails before its commit")
    assert recorder.kinds() == []
    async with ctx.work() as uow:
        account = await uow.ledger.account_for_update("alice")
        account, entry = account.grant(5, "grant:kept", ctx.clock.now())
        await uow.ledger.post(account, entry)
        await uow.commit()
        assert recorder.events == []  # not before the unit of work has ended
    [granted] = recorder.events
    assert (type(granted), granted.amount, granted.balance) == (CreditsGranted, 5, 15)


async def test_a_token_cooled_down_on_create_is_told(studio, recorder) -> None:
    studio, inference = studio
    await studio.add_token("r8_events_token_0001")
    await studio.add_token("r8_events_token_0002")
    await studio.ensure_user("alice")
    recorder.kinds()
    inference.fail_next(TokenRateLimited(retry_after=17))
    await studio.create_generation("alice", REQUEST)
    cooled = [e for e in recorder.events if isinstance(e, TokenCooledDown)]
    assert len(cooled) == 1 and (cooled[0].until - cooled[0].at).total_seconds() == 17


async def test_a_failing_subscriber_reaches_neither_the_use_case_nor_the_others(uow_factory, recorder) -> None:
    failures: list[tuple[type, Exception]] = []
    dispatcher = EventDispatcher(on_error=lambda event, handler, error: failures.append((type(event), error)))

    def broken(event: DomainEvent) -> None:
        raise ValueError("a subscriber's bug")

    dispatcher.subscribe(broken, GenerationEvent)
    dispatcher.subscribe(recorder)
    studio, _ = make_studio(uow_factory, dispatcher)
    await studio.add_token("r8_events_token_0001")
    await studio.ensure_user("alice")
    generation = await studio.create_generation("alice", REQUEST)
    assert generation.prediction_id is not None
    assert [kind for kind, _ in failures] == [GenerationAccepted, GenerationSubmitted]
    assert GenerationSubmitted in [type(e) for e in recorder.events]


async def test_a_subscriber_may_read_what_was_committed(uow_factory) -> None:
    """Dispatched once the unit of work has ended, so a subscriber can open its own."""
    seen: list[str] = []
    dispatcher = EventDispatcher()
    studio, inference = make_studio(uow_factory, dispatcher)

    async def read_back(event: GenerationCompleted) -> None:
        async with studio.context.work() as uow:
            stored = await uow.generations.get(event.generation_id)
        seen.append(stored.status.value)

    dispatcher.subscribe(read_back, GenerationCompleted)
    await studio.add_token("r8_events_token_0001")
    await studio.ensure_user("alice")
    generation = await studio.create_generation("alice", REQUEST)
    await studio.apply_update(inference.complete(generation.prediction_id))
    assert seen == ["completed"]


async def test_saving_takes_the_events_so_saving_again_tells_nothing_twice(uow_factory, recorder) -> None:
    """The unit of work takes what an aggregate recorded when it saves it: the saved state
    (what a memory store hands every reader) carries none, and saving it again, in the same
    unit of work or a later one, tells nothing more."""
    dispatcher = EventDispatcher()
    studio, _ = make_studio(uow_factory, dispatcher)
    await studio.ensure_user("alice")
    dispatcher.subscribe(recorder)
    ctx = studio.context
    async with ctx.work() as uow:
        account = await uow.ledger.account_for_update("alice")
        granted, entry = account.grant(5, "grant:once", ctx.clock.now())
        assert [type(e) for e in granted.events] == [CreditsGranted]
        await uow.ledger.post(granted, entry)
        assert granted.events == ()
        await uow.ledger.save_account(granted)
        await uow.commit()
    async with ctx.work() as uow:
        stored = await uow.ledger.account("alice")
        assert stored is not None and stored.balance == 15 and stored.events == ()
        await uow.ledger.save_account(granted)
        await uow.commit()
    [told] = recorder.events
    assert (type(told), told.amount, told.balance) == (CreditsGranted, 5, 15)
