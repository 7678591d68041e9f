"""The generation lifecycle: news in any order, the service's own decisions, and the events.

A Generation is frozen: every transition returns a new one carrying the events of that
change; the old one never changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from base_core.errors import IllegalTransition, NotFound
from base_core.events import (
    GenerationAccepted,
    GenerationCanceled,
    GenerationCompleted,
    GenerationDeleted,
    GenerationFailed,
    GenerationSubmitted,
    with_recorded,
)
from base_core.frozen import FrozenDict
from base_core.generation import (
    TERMINAL,
    TRANSITIONS,
    Cancellation,
    Failure,
    Generation,
    PredictionUpdate,
    Status,
    Trigger,
    next_status,
)
from base_core.registry import Action

T0 = datetime(2025, 11, 24, 10, 0, tzinfo=UTC)
P, R, C, F, X = Status.PENDING, Status.PROCESSING, Status.COMPLETED, Status.FAILED, Status.CANCELED

# The lifecycle as PRODUCT.md describes it, written out independently of the code.
SPEC_TRANSITIONS = {
    (P, Trigger.SUBMIT): R,
    (P, Trigger.PROGRESS): R,
    (P, Trigger.SUCCEED): C,
    (P, Trigger.FAIL): F,
    (P, Trigger.CANCEL): X,
    (R, Trigger.PROGRESS): R,
    (R, Trigger.SUCCEED): C,
    (R, Trigger.FAIL): F,
    (R, Trigger.CANCEL): X,
}
NEWS_TO_STATUS = {Trigger.PROGRESS: R, Trigger.SUCCEED: C, Trigger.FAIL: F, Trigger.CANCEL: X}
ENDED_EVENT = {C: GenerationCompleted, F: GenerationFailed, X: GenerationCanceled}


def new_generation(status: Status = P) -> Generation:
    generation = Generation(
        id="g1",
        user_id="u1",
        action=Action.CREATE,
        model_id="flux-schnell",
        model_name="flux-schnell",
        prompt="a fox",
        input_image_url=None,
        settings={"num_outputs": 1},
        replicate_input={"prompt": "a fox", "image_input": ["https://x.test/a.png"]},
        cost=1,
        created_at=T0,
        updated_at=T0,
    )
    if status is R:
        generation = with_recorded(generation.submitted("p1", "t1", T0), ())
    return generation


updates = st.builds(
    PredictionUpdate,
    prediction_id=st.just("p1"),
    trigger=st.sampled_from(list(NEWS_TO_STATUS)),
    output=st.none() | st.lists(st.from_regex(r"https://replicate\.delivery/[a-z0-9]{1,8}\.png", fullmatch=True), max_size=4).map(tuple),
    error=st.none() | st.text(min_size=1, max_size=20),
    predict_time=st.none() | st.floats(0, 1800, allow_nan=False),
    completed_at=st.none() | st.integers(0, 3600).map(lambda s: T0 + timedelta(seconds=s)),
)


@st.composite
def shuffled_with_duplicates(draw) -> list[PredictionUpdate]:
    base = draw(st.lists(updates, max_size=8))
    copies = draw(st.lists(st.sampled_from(base), max_size=6)) if base else []
    return draw(st.permutations(base + copies))


def expected_outcome(start: Status, sequence: list[PredictionUpdate]) -> tuple[Status, PredictionUpdate | None]:
    """The status the FIRST terminal update decides, or where the non-terminal ones lead."""
    status = start
    for update in sequence:
        if update.trigger is not Trigger.PROGRESS:
            return NEWS_TO_STATUS[update.trigger], update
        status = R
    return status, None


# --- the table itself -------------------------------------------------------------------


def test_the_transition_table_is_the_documented_lifecycle() -> None:
    assert TRANSITIONS == SPEC_TRANSITIONS
    for status, trigger in product(Status, Trigger):
        assert next_status(status, trigger) == SPEC_TRANSITIONS.get((status, trigger))


def test_terminal_states_have_no_way_out() -> None:
    assert TERMINAL == {C, F, X}
    for status, trigger in product(TERMINAL, Trigger):
        assert next_status(status, trigger) is None


# --- news in any order ------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([P, R]), shuffled_with_duplicates())
def test_any_order_of_updates_ends_where_the_first_terminal_one_says(start: Status, sequence) -> None:
    generation = new_generation(start)
    now = T0
    events = []
    for update in sequence:
        now += timedelta(seconds=1)
        before = generation
        moved = generation.advance(update, now)
        if moved is None:
            continue
        assert moved.status is not before.status
        assert before.status not in TERMINAL
        events += moved.events
        generation = with_recorded(moved, ())
    status, decisive = expected_outcome(start, sequence)
    assert generation.status is status
    ended = [e for e in events if isinstance(e, (GenerationCompleted, GenerationFailed, GenerationCanceled))]
    if decisive is None:
        assert not ended
        assert generation.completed_at is None
        assert generation.output_urls is None and generation.error_message is None
        return
    assert len(ended) == 1 and type(ended[0]) is ENDED_EVENT[status]
    assert ended[0].generation_id == "g1" and ended[0].accepted_at == T0
    decided_at = T0 + timedelta(seconds=sequence.index(decisive) + 1)
    assert generation.completed_at == (decisive.completed_at or decided_at)
    expected_ms = None if decisive.predict_time is None else round(decisive.predict_time * 1000)
    assert generation.processing_time_ms == expected_ms
    if status is C:
        assert generation.output_urls == (decisive.output or ())
        assert generation.error_message is None
        assert ended[0].outputs == len(decisive.output or ())
    else:
        assert generation.output_urls is None
        assert generation.error_message and ended[0].message == generation.error_message
        if decisive.error:
            assert generation.error_message == decisive.error


@given(updates)
def test_a_late_processing_after_succeeded_changes_nothing(update: PredictionUpdate) -> None:
    generation = new_generation(R)
    done = PredictionUpdate("p1", Trigger.SUCCEED, output=("https://x.test/a.png",), predict_time=2.5)
    generation = generation.advance(done, T0 + timedelta(seconds=5))
    assert generation is not None
    for late in (PredictionUpdate("p1", Trigger.PROGRESS), update, done, Failure("x"), Cancellation()):
        assert generation.advance(late, T0 + timedelta(seconds=9)) is None


def test_a_second_succeeded_changes_nothing() -> None:
    generation = new_generation(R).advance(PredictionUpdate("p1", Trigger.SUCCEED, output=("https://x.test/1.png",)), T0)
    assert generation.advance(PredictionUpdate("p1", Trigger.SUCCEED, output=("https://x.test/2.png",)), T0) is None
    assert generation.output_urls == ("https://x.test/1.png",)


def test_a_cancel_without_a_reason_says_so() -> None:
    canceled = new_generation(R).advance(PredictionUpdate("p1", Trigger.CANCEL), T0)
    assert canceled.status is X and canceled.error_message == "prediction canceled"


def test_predict_time_is_recorded_in_milliseconds() -> None:
    finished = T0 + timedelta(seconds=30)
    update = PredictionUpdate("p1", Trigger.SUCCEED, output=("u",), predict_time=2.3456, completed_at=finished)
    generation = new_generation(R).advance(update, T0)
    assert generation.processing_time_ms == 2346
    assert generation.completed_at == finished


def test_an_update_for_a_pending_generation_records_the_prediction() -> None:
    generation = new_generation(P).advance(PredictionUpdate("p9", Trigger.PROGRESS), T0)
    assert (generation.status, generation.prediction_id) == (R, "p9")
    assert [type(e) for e in generation.events] == [GenerationSubmitted]


def test_the_service_fails_and_cancels_through_the_same_path() -> None:
    failed = new_generation(R).advance(Failure("no token"), T0)
    assert (failed.status, failed.error_message, failed.completed_at) == (F, "no token", T0)
    canceled = new_generation(P).advance(Cancellation("by the user"), T0)
    assert (canceled.status, canceled.error_message) == (X, "by the user")
    assert [type(e) for e in canceled.events] == [GenerationCanceled]


def test_accepting_and_deleting_record_their_events() -> None:
    accepted = Generation.accept(**{f: getattr(new_generation(), f) for f in (
        "id", "user_id", "action", "model_id", "model_name", "prompt", "input_image_url",
        "settings", "replicate_input", "cost", "created_at", "updated_at")})
    assert accepted.events == (GenerationAccepted(
        at=T0, generation_id="g1", user_id="u1", version=1, model_id="flux-schnell", action="create", cost=1),)
    done = with_recorded(with_recorded(accepted, ()).advance(Failure("x"), T0), ())
    deleted = done.delete(T0)
    assert [type(e) for e in deleted.events] == [GenerationDeleted] and done.deleted_at is None


def test_an_accepted_generation_is_what_its_constructor_makes_from_the_same_fields() -> None:
    """`accept` builds the generation without `__init__`: it must set every field, and to
    what `__init__` would (the JSON frozen, everything else at its default)."""
    given = {
        "id": "g1", "user_id": "u1", "action": Action.CREATE, "model_id": "flux-schnell",
        "model_name": "flux-schnell", "prompt": "a fox", "input_image_url": "https://x.test/a.png",
        "settings": {"num_outputs": 1, "tags": ["a"]}, "replicate_input": {"prompt": "a fox"},
        "cost": 1, "created_at": T0, "updated_at": T0 + timedelta(seconds=1),
        "idempotency_key": "k1", "request_fingerprint": "f1", "input_upload_id": "up1",
    }
    accepted = Generation.accept(**given)
    assert set(vars(accepted)) == {field.name for field in attrs.fields(Generation)}
    built = Generation(**given)
    for field in attrs.fields(Generation):
        if field.name != "events":
            assert getattr(accepted, field.name) == getattr(built, field.name), field.name
            assert type(getattr(accepted, field.name)) is type(getattr(built, field.name)), field.name
    assert accepted == built
    assert isinstance(accepted.settings["tags"], tuple)


def test_a_generation_and_what_it_carries_cannot_change() -> None:
    generation = new_generation(R).advance(PredictionUpdate("p1", Trigger.SUCCEED, output=("u",)), T0)
    with pytest.raises(AttributeError):
        generation.status = F
    assert isinstance(generation.settings, FrozenDict)
    with pytest.raises(TypeError):
        generation.settings["num_outputs"] = 9
    with pytest.raises(TypeError):
        generation.replicate_input.update(prompt="x")
    assert generation.replicate_input["image_input"] == ("https://x.test/a.png",)
    assert isinstance(generation.output_urls, tuple)


# --- commands, as a state machine with a reference model --------------------------------


class LifecycleMachine(RuleBasedStateMachine):
    """Commands and updates in any order; the reference model is a plain status string."""

    def __init__(self) -> None:
        super().__init__()
        self.generation = new_generation()
        self.model_status = P
        self.model_deleted = False
        self.first_terminal: str | None = None
        self.now = T0

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def take(self, moved: Generation | None, target: Status | None) -> None:
        """`moved` is what the generation became (None: nothing changed)."""
        if target is None or target is self.model_status:
            assert moved is None
            return
        assert moved is not None and moved.status is target
        if target in TERMINAL:
            assert [type(e) for e in moved.events] == [ENDED_EVENT[target]]
        else:
            assert [type(e) for e in moved.events] == [GenerationSubmitted]
        self.generation = with_recorded(moved, ())
        self.model_status = target

    @rule()
    def submit(self) -> None:
        target = SPEC_TRANSITIONS.get((self.model_status, Trigger.SUBMIT))
        if target is None:
            with pytest.raises(IllegalTransition) as caught:
                self.generation.submitted("p1", "t1", self.tick())
            assert caught.value.current == self.model_status.value
            return
        self.take(self.generation.submitted("p1", "t1", self.tick()), target)

    @rule(message=st.text(min_size=1, max_size=10))
    def fail(self, message: str) -> None:
        target = SPEC_TRANSITIONS.get((self.model_status, Trigger.FAIL))
        self.take(self.generation.advance(Failure(message), self.tick()), target)

    @rule()
    def cancel(self) -> None:
        target = SPEC_TRANSITIONS.get((self.model_status, Trigger.CANCEL))
        self.take(self.generation.advance(Cancellation(), self.tick()), target)

    @rule(update=updates)
    def replicate_says(self, update: PredictionUpdate) -> None:
        target = SPEC_TRANSITIONS.get((self.model_status, update.trigger))
        self.take(self.generation.advance(update, self.tick()), target)

    @rule()
    def delete(self) -> None:
        if self.model_deleted:
            with pytest.raises(NotFound):
                self.generation.delete(self.tick())
        elif self.model_status not in TERMINAL:
            with pytest.raises(IllegalTransition) as caught:
                self.generation.delete(self.tick())
            assert caught.value.event == "delete"
        else:
            deleted = self.generation.delete(self.tick())
            assert [type(e) for e in deleted.events] == [GenerationDeleted]
            self.generation = with_recorded(deleted, ())
            self.model_deleted = True

    @precondition(lambda self: self.model_deleted)
    @rule()
    def deleted_is_invisible(self) -> None:
        assert not self.generation.is_visible_to("u1")
        with pytest.raises(NotFound):
            self.generation.ensure_visible_to("u1")

    @invariant()
    def status_matches_the_model(self) -> None:
        assert self.generation.status is self.model_status
        assert self.generation.is_deleted == self.model_deleted
        assert self.generation.is_terminal == (self.model_status in TERMINAL)

    @invariant()
    def terminal_generations_have_a_completion_time(self) -> None:
        assert (self.generation.completed_at is not None) == self.generation.is_terminal

    @invariant()
    def only_the_owner_sees_it(self) -> None:
        assert not self.generation.is_visible_to("someone-else")


LifecycleMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestLifecycle = LifecycleMachine.TestCase
