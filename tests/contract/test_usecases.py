"""The use cases end to end through `Studio`, on every storage backend.

The bodies never look at which backend they run on: the `uow_factory` fixture decides.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from base_core.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    NoTokenAvailable,
    ProviderInputRejected,
    ProviderUnavailable,
    TokenRateLimited,
    TokenRejected,
    TooManyInFlight,
)
from base_core.generation import GenerationQuery, PredictionUpdate, Status, Trigger
from base_core.ledger import EntryKind
from base_core.registry import Action, GenerationRequest, builtin_registry
from base_core.studio import Studio
from base_core.usecases import Context, StudioConfig
from base_core.users import TelegramProfile
from base_testing import FakeInference, ManualClock, SequentialIds

INITIAL = 100
ALICE, BOB = "alice", "bob"


class World:
    """A studio on the backend under test, with a fake Replicate and a manual clock."""

    def __init__(self, uow_factory, inference_class=FakeInference, **config) -> None:
        self.clock = ManualClock()
        self.inference = inference_class(self.clock)
        config.setdefault("initial_credits", INITIAL)
        self.studio = Studio(
            Context(
                uow=uow_factory,
                inference=self.inference,
                registry=builtin_registry(),
                clock=self.clock,
                ids=SequentialIds(),
                config=StudioConfig(**config),
            )
        )

    async def token(self, secret: str = "r8_good_token_0001", label: str | None = None):
        return await self.studio.add_token(secret, label)

    async def user(self, user_id: str = ALICE) -> str:
        await self.studio.ensure_user(user_id)
        return user_id

    async def create(self, user_id: str = ALICE, num_outputs: int = 1, key: str | None = None, prompt: str = "a fox"):
        return await self.studio.create_generation(user_id, flux(num_outputs, prompt), key)

    async def entry_kinds(self, user_id: str = ALICE) -> list[EntryKind]:
        return [e.kind for e in await self.studio.ledger(user_id)]

    async def token_by_id(self, token_id: str):
        return next(t for t in (await self.studio.token_stats()).tokens if t.id == token_id)


def flux(num_outputs: int = 1, prompt: str = "a fox") -> GenerationRequest:
    return GenerationRequest("create", "flux-schnell", prompt=prompt, settings={"num_outputs": num_outputs})


@pytest.fixture
async def world(uow_factory) -> World:
    w = World(uow_factory)
    await w.token()
    await w.user(ALICE)
    return w


# --- the life of a generation -----------------------------------------------------------


async def test_create_then_complete_settles_the_hold(world: World) -> None:
    generation = await world.create(num_outputs=3)
    assert generation.status is Status.PROCESSING
    assert generation.cost == 3
    assert await world.studio.balance(ALICE) == INITIAL - 3

    world.clock.advance(10)
    done = await world.studio.apply_update(world.inference.complete(generation.prediction_id, predict_time=2.5))
    assert done.status is Status.COMPLETED
    assert len(done.output_urls) == 3
    assert done.processing_time_ms == 2500
    assert done.completed_at == world.clock.now()
    assert await world.studio.balance(ALICE) == INITIAL - 3
    assert await world.entry_kinds() == [EntryKind.GRANT, EntryKind.HOLD, EntryKind.SETTLE]
    stored = await world.studio.generation(ALICE, generation.id)
    assert (stored.status, stored.output_urls) == (Status.COMPLETED, done.output_urls)


@pytest.mark.parametrize("outcome", ["fail", "abort"])
async def test_a_failed_or_aborted_generation_is_refunded(world: World, outcome: str) -> None:
    generation = await world.create(num_outputs=2)
    update = getattr(world.inference, outcome)(generation.prediction_id)
    finished = await world.studio.apply_update(update)
    assert finished.status is (Status.FAILED if outcome == "fail" else Status.CANCELED)
    assert finished.error_message
    assert await world.studio.balance(ALICE) == INITIAL
    assert await world.entry_kinds() == [EntryKind.GRANT, EntryKind.HOLD, EntryKind.VOID]


async def test_deleting_a_running_generation_cancels_it_with_its_own_token_and_refunds(world: World) -> None:
    await world.token("r8_second_token_0002")
    generation = await world.create(num_outputs=2)
    await world.studio.delete_generation(ALICE, generation.id)

    assert ("cancel", generation.token_id) in world.inference.calls
    assert world.inference.predictions[generation.prediction_id].status == "canceled"
    assert await world.studio.balance(ALICE) == INITIAL
    assert await world.entry_kinds() == [EntryKind.GRANT, EntryKind.HOLD, EntryKind.VOID]
    with pytest.raises(NotFound):
        await world.studio.generation(ALICE, generation.id)
    with pytest.raises(NotFound):
        await world.studio.delete_generation(ALICE, generation.id)
    assert (await world.studio.generations(GenerationQuery(ALICE))).total == 0


async def test_late_news_for_a_deleted_generation_changes_nothing(world: World) -> None:
    generation = await world.create()
    await world.studio.delete_generation(ALICE, generation.id)
    await world.studio.apply_update(PredictionUpdate(generation.prediction_id, Trigger.SUCCEED, output=("u",)))
    assert await world.studio.balance(ALICE) == INITIAL
    with pytest.raises(NotFound):
        await world.studio.generation(ALICE, generation.id)


async def test_deleting_a_finished_generation_keeps_its_charge(world: World) -> None:
    generation = await world.create()
    await world.studio.apply_update(world.inference.complete(generation.prediction_id))
    await world.studio.delete_generation(ALICE, generation.id)
    assert await world.studio.balance(ALICE) == INITIAL - 1
    assert [c for c in world.inference.calls if c[0] == "cancel"] == []


async def test_another_users_generation_does_not_exist_for_them(world: World) -> None:
    await world.user(BOB)
    generation = await world.create(ALICE)
    with pytest.raises(NotFound):
        await world.studio.generation(BOB, generation.id)
    with pytest.raises(NotFound):
        await world.studio.delete_generation(BOB, generation.id)
    assert (await world.studio.generations(GenerationQuery(BOB))).items == []
    assert (await world.studio.generation(ALICE, generation.id)).status is Status.PROCESSING
    assert await world.studio.balance(ALICE) == INITIAL - 1


async def test_a_generation_read_from_the_studio_is_a_snapshot(world: World) -> None:
    generation = await world.create()
    done = await world.studio.apply_update(world.inference.complete(generation.prediction_id))
    with pytest.raises(AttributeError):
        done.output_urls.append("https://evil.example/x.png")  # a tuple
    with pytest.raises(TypeError):
        done.settings["num_outputs"] = 99
    stored = await world.studio.generation(ALICE, generation.id)
    assert len(stored.output_urls) == 1
    assert stored.settings["num_outputs"] == 1


# --- the token pool ---------------------------------------------------------------------


async def test_a_generation_fails_over_from_token_to_token(uow_factory) -> None:
    world = World(uow_factory)
    rejected = await world.token("r8_rejected_0001")
    throttled = await world.token("r8_throttled_0002")
    flaky = await world.token("r8_flaky_00003")
    good = await world.token("r8_good_000004")
    await world.user()
    world.inference.fail_token(rejected.secret, TokenRejected(401))
    world.inference.fail_token(throttled.secret, TokenRateLimited(retry_after=42))
    world.inference.fail_token(flaky.secret, ProviderUnavailable(status=500))

    generation = await world.create()

    assert generation.token_id == good.id
    assert [c for c in world.inference.calls if c[0] == "create"] == [
        ("create", rejected.id), ("create", throttled.id), ("create", flaky.id), ("create", good.id)
    ]
    stats = {t.id: t for t in (await world.studio.token_stats()).tokens}
    assert not stats[rejected.id].is_active
    assert stats[throttled.id].is_active
    assert stats[throttled.id].cooldown_until == world.clock.now() + timedelta(seconds=42)
    assert stats[flaky.id].is_active and stats[flaky.id].cooldown_until is None
    assert [stats[t.id].error_count for t in (rejected, throttled, flaky, good)] == [1, 1, 1, 0]
    assert [stats[t.id].request_count for t in (rejected, throttled, flaky, good)] == [1, 1, 1, 1]
    totals = (await world.studio.token_stats()).totals
    assert (totals.total_tokens, totals.active_tokens, totals.total_requests, totals.total_errors) == (4, 3, 4, 3)
    assert await world.studio.balance(ALICE) == INITIAL - 1


async def test_when_every_token_fails_the_generation_fails_and_is_refunded(uow_factory) -> None:
    world = World(uow_factory)
    throttled = await world.token("r8_throttled_0001")
    flaky = await world.token("r8_flaky_00002")
    await world.user()
    world.inference.fail_token(throttled.secret, TokenRateLimited(retry_after=20))
    world.inference.fail_token(flaky.secret, ProviderUnavailable(status=503))

    with pytest.raises(NoTokenAvailable) as caught:
        await world.create()

    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert await world.studio.balance(ALICE) == INITIAL
    assert await world.entry_kinds() == [EntryKind.GRANT, EntryKind.HOLD, EntryKind.VOID]
    [generation] = (await world.studio.generations(GenerationQuery(ALICE))).items
    assert generation.status is Status.FAILED and generation.error_message


async def test_when_every_token_is_cooling_nothing_is_held(uow_factory) -> None:
    world = World(uow_factory)
    throttled = await world.token("r8_throttled_0001")
    await world.user()
    world.inference.fail_token(throttled.secret, TokenRateLimited(retry_after=20))
    with pytest.raises(NoTokenAvailable):
        await world.create()
    world.clock.advance(5)
    with pytest.raises(NoTokenAvailable) as caught:
        await world.create()
    assert caught.value.retry_after == pytest.approx(15)
    assert await world.entry_kinds() == [EntryKind.GRANT, EntryKind.HOLD, EntryKind.VOID]


async def test_with_no_tokens_at_all_nothing_is_held_or_created(uow_factory) -> None:
    world = World(uow_factory)
    await world.user()
    with pytest.raises(NoTokenAvailable) as caught:
        await world.create()
    assert caught.value.retry_after is None
    assert await world.entry_kinds() == [EntryKind.GRANT]
    assert (await world.studio.generations(GenerationQuery(ALICE))).total == 0
    assert world.inference.calls == []


async def test_a_refused_input_is_the_users_error_not_the_tokens(world: World) -> None:
    token = (await world.studio.token_stats()).tokens[0]
    world.inference.fail_next(ProviderInputRejected({"prompt": "flagged"}))
    with pytest.raises(ProviderInputRejected) as caught:
        await world.create()
    assert caught.value.field == "prompt"
    after = await world.token_by_id(token.id)
    assert (after.is_active, after.error_count, after.cooldown_until) == (True, 0, None)
    assert await world.studio.balance(ALICE) == INITIAL
    [generation] = (await world.studio.generations(GenerationQuery(ALICE))).items
    assert generation.status is Status.FAILED
    assert [c for c in world.inference.calls if c[0] == "create"] == [("create", token.id)]


async def test_tokens_are_added_once_and_can_be_switched_off(uow_factory) -> None:
    world = World(uow_factory)
    first = await world.token("r8_same_secret_01")
    assert (await world.token("r8_same_secret_01")).id == first.id
    assert len(await world.studio.ensure_tokens(["r8_same_secret_01", " ", "r8_other_secret_2"])) == 2
    await world.studio.set_token_active(first.id, False)
    assert not (await world.token_by_id(first.id)).is_active
    await world.studio.set_token_active(first.id, True)
    assert (await world.token_by_id(first.id)).is_active
    with pytest.raises(NotFound):
        await world.studio.set_token_active("no-such-token", True)
    with pytest.raises(InvalidRequest):
        await world.token("has a space")


# --- credits and limits -----------------------------------------------------------------


async def test_insufficient_credits_create_nothing(uow_factory) -> None:
    world = World(uow_factory, initial_credits=3)
    await world.token()
    await world.user()
    with pytest.raises(InsufficientCredits) as caught:
        await world.create(num_outputs=4)
    assert (caught.value.needed, caught.value.available) == (4, 3)
    assert await world.studio.balance(ALICE) == 3
    assert (await world.studio.generations(GenerationQuery(ALICE))).total == 0
    assert world.inference.calls == []


async def test_the_in_flight_cap_refuses_more_work(uow_factory) -> None:
    world = World(uow_factory, max_in_flight_per_user=2)
    await world.token()
    await world.user()
    first = await world.create()
    await world.create()
    with pytest.raises(TooManyInFlight) as caught:
        await world.create()
    assert caught.value.limit == 2
    assert await world.studio.balance(ALICE) == INITIAL - 2
    await world.studio.apply_update(world.inference.complete(first.prediction_id))
    await world.create()


async def test_a_retry_at_the_in_flight_cap_answers_the_create_it_repeats(uow_factory) -> None:
    world = World(uow_factory, max_in_flight_per_user=1)
    await world.token()
    await world.user()
    first = await world.create(key="req-cap")
    again = await world.create(key="req-cap")
    assert again.id == first.id
    with pytest.raises(TooManyInFlight):
        await world.create(key="req-other")
    with pytest.raises(IdempotencyConflict):  # another request under the key: refused, not capped
        await world.create(num_outputs=2, key="req-cap")
    assert await world.studio.balance(ALICE) == INITIAL - 1
    assert len([c for c in world.inference.calls if c[0] == "create"]) == 1


async def test_an_idempotency_key_creates_and_charges_once(world: World) -> None:
    first = await world.create(num_outputs=2, key="req-1")
    again = await world.create(num_outputs=2, key="req-1")
    assert again.id == first.id
    assert await world.studio.balance(ALICE) == INITIAL - 2
    assert len([c for c in world.inference.calls if c[0] == "create"]) == 1
    with pytest.raises(IdempotencyConflict):
        await world.create(num_outputs=3, key="req-1")
    with pytest.raises(IdempotencyConflict):
        await world.create(num_outputs=2, key="req-1", prompt="a wolf")
    await world.user(BOB)
    assert (await world.create(BOB, num_outputs=2, key="req-1")).id != first.id


async def test_only_a_create_with_an_idempotency_key_stores_its_fingerprint(world: World) -> None:
    keyed = await world.create(key="req-2")
    plain = await world.create()
    assert keyed.request_fingerprint is not None and len(keyed.request_fingerprint) == 64
    assert plain.request_fingerprint is None
    assert (await world.studio.generation(ALICE, plain.id)).request_fingerprint is None
    assert (await world.studio.generation(ALICE, keyed.id)).request_fingerprint == keyed.request_fingerprint


# --- Replicate's news -------------------------------------------------------------------


class EagerWebhookInference(FakeInference):
    """Replicate whose webhook reaches the studio before the create call has returned."""

    studio: Studio

    async def create(self, token, replicate_model, replicate_input, webhook):
        created = await super().create(token, replicate_model, replicate_input, webhook)
        early = self.complete(created.prediction_id, predict_time=0.75)
        assert await self.studio.apply_update(early, delivery_id="wh-early") is None
        return created


async def test_a_webhook_that_beats_the_create_call_is_not_lost(uow_factory) -> None:
    world = World(uow_factory, inference_class=EagerWebhookInference)
    world.inference.studio = world.studio
    await world.token()
    await world.user()
    generation = await world.create(num_outputs=2)
    assert generation.status is Status.COMPLETED
    assert generation.processing_time_ms == 750
    stored = await world.studio.generation(ALICE, generation.id)
    assert stored.status is Status.COMPLETED and len(stored.output_urls) == 2
    assert await world.studio.balance(ALICE) == INITIAL - 2
    assert await world.entry_kinds() == [EntryKind.GRANT, EntryKind.HOLD, EntryKind.SETTLE]
    # Replicate retries the same delivery: still nothing new.
    assert await world.studio.apply_update(world.inference.fail(generation.prediction_id), "wh-early") is None


async def test_duplicate_deliveries_are_ignored(world: World) -> None:
    generation = await world.create()
    update = world.inference.complete(generation.prediction_id)
    assert (await world.studio.apply_update(update, "delivery-1")).status is Status.COMPLETED
    assert await world.studio.apply_update(update, "delivery-1") is None
    assert await world.studio.apply_update(PredictionUpdate(generation.prediction_id, Trigger.FAIL), "delivery-2")
    assert (await world.studio.generation(ALICE, generation.id)).status is Status.COMPLETED
    assert await world.entry_kinds() == [EntryKind.GRANT, EntryKind.HOLD, EntryKind.SETTLE]


async def test_refresh_asks_replicate_with_the_generations_token(uow_factory) -> None:
    world = World(uow_factory)
    await world.token("r8_first_token_01")
    await world.user()
    generation = await world.create()
    await world.token("r8_second_token_2")
    world.inference.complete(generation.prediction_id)
    refreshed = await world.studio.refresh(generation.id)
    assert refreshed.status is Status.COMPLETED
    assert ("get", generation.token_id) in world.inference.calls


async def test_a_token_error_seen_while_polling_counts_on_the_token(uow_factory) -> None:
    world = World(uow_factory)
    token = await world.token("r8_first_token_01")
    await world.user()
    generation = await world.create()
    world.inference.fail_next(TokenRateLimited(retry_after=40))
    with pytest.raises(TokenRateLimited):
        await world.studio.refresh(generation.id)
    stat = await world.token_by_id(token.id)
    assert stat.error_count == 1
    assert stat.cooldown_until == world.clock.now() + timedelta(seconds=40)
    assert (await world.studio.generation(ALICE, generation.id)).status is Status.PROCESSING


# --- listing ----------------------------------------------------------------------------


async def test_list_pages_newest_first_with_totals(world: World) -> None:
    await world.user(BOB)
    created = []
    for _ in range(7):
        world.clock.advance(1)
        created.append(await world.create())
    await world.create(BOB)
    newest_first = [g.id for g in reversed(created)]

    page1 = await world.studio.generations(GenerationQuery(ALICE, page=1, limit=3))
    page3 = await world.studio.generations(GenerationQuery(ALICE, page=3, limit=3))
    beyond = await world.studio.generations(GenerationQuery(ALICE, page=9, limit=3))

    assert [g.id for g in page1.items] == newest_first[:3]
    assert [g.id for g in page3.items] == newest_first[6:]
    assert (page1.total, page1.total_pages, page1.page, page1.limit) == (7, 3, 1, 3)
    assert (beyond.items, beyond.total, beyond.total_pages, beyond.page) == ([], 7, 3, 9)


async def test_list_filters_by_status_and_action(world: World) -> None:
    done = await world.create()
    await world.studio.apply_update(world.inference.complete(done.prediction_id))
    running = await world.create()
    completed = await world.studio.generations(GenerationQuery(ALICE, status=Status.COMPLETED))
    processing = await world.studio.generations(GenerationQuery(ALICE, status=Status.PROCESSING))
    edits = await world.studio.generations(GenerationQuery(ALICE, action=Action.EDIT))
    creates = await world.studio.generations(GenerationQuery(ALICE, action=Action.CREATE))
    assert [g.id for g in completed.items] == [done.id]
    assert [g.id for g in processing.items] == [running.id]
    assert (edits.items, edits.total, edits.total_pages) == ([], 0, 0)
    assert creates.total == 2


# --- users and credits ------------------------------------------------------------------


async def test_adjusting_credits_grants_deducts_and_never_goes_below_zero(world: World) -> None:
    assert await world.studio.adjust_credits(ALICE, 50, "bonus") == INITIAL + 50
    assert await world.studio.adjust_credits(ALICE, -30, "correction") == INITIAL + 20
    with pytest.raises(InsufficientCredits) as caught:
        await world.studio.adjust_credits(ALICE, -(INITIAL + 21), "too much")
    assert (caught.value.needed, caught.value.available) == (INITIAL + 21, INITIAL + 20)
    assert await world.studio.balance(ALICE) == INITIAL + 20
    entries = await world.studio.ledger(ALICE)
    assert sum(e.amount for e in entries) == INITIAL + 20
    for bad in (0, True, 1.5, 10**10):
        with pytest.raises(InvalidRequest):
            await world.studio.adjust_credits(ALICE, bad, "x")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await world.studio.adjust_credits("nobody", 5, "x")


async def test_adjusting_credits_with_a_key_is_idempotent(world: World) -> None:
    assert await world.studio.adjust_credits(ALICE, 25, "promo", key="promo-1") == INITIAL + 25
    assert await world.studio.adjust_credits(ALICE, 25, "promo", key="promo-1") == INITIAL + 25
    with pytest.raises(IdempotencyConflict):
        await world.studio.adjust_credits(ALICE, 26, "promo", key="promo-1")
    with pytest.raises(IdempotencyConflict):
        await world.studio.adjust_credits(ALICE, 25, "other", key="promo-1")
    await world.user(BOB)
    with pytest.raises(IdempotencyConflict):
        await world.studio.adjust_credits(BOB, 25, "promo", key="promo-1")
    assert await world.studio.balance(ALICE) == INITIAL + 25
    assert await world.studio.balance(BOB) == INITIAL


async def test_ensure_user_grants_the_initial_credits_once(uow_factory) -> None:
    world = World(uow_factory)
    first = await world.studio.ensure_user("carol", email="carol@example.com")
    assert first.credits == INITIAL
    await world.studio.adjust_credits("carol", -10, "spent")
    again = await world.studio.ensure_user("carol")
    assert again.credits == INITIAL - 10
    assert (await world.studio.user("carol")).user.email == "carol@example.com"
    assert await world.entry_kinds("carol") == [EntryKind.GRANT, EntryKind.ADJUST]
    with pytest.raises(NotFound):
        await world.studio.user("nobody")


async def test_telegram_sign_in_creates_the_user_once_and_keeps_the_profile_current(uow_factory) -> None:
    world = World(uow_factory)
    first = await world.studio.sign_in_telegram(TelegramProfile(777, "fox", "Fox"))
    assert first.credits == INITIAL
    assert (first.user.telegram_id, first.user.telegram_username, first.user.telegram_first_name) == (777, "fox", "Fox")
    again = await world.studio.sign_in_telegram(TelegramProfile(777, "red_fox", "Red"))
    assert again.user.id == first.user.id
    assert again.credits == INITIAL
    stored = await world.studio.user(first.user.id)
    assert (stored.user.telegram_username, stored.user.telegram_first_name) == ("red_fox", "Red")
    other = await world.studio.sign_in_telegram(TelegramProfile(778, None, "Wolf"))
    assert other.user.id != first.user.id
    assert await world.entry_kinds(first.user.id) == [EntryKind.GRANT]
