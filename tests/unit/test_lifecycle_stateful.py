"""The generation lifecycle: Replicate's updates in any order, the service's own commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from base_core.registry import Action
from base_core.errors import IllegalTransition, NotFound
from base_core.generation import (
    PROVIDER_EVENTS,
    TERMINAL,
    TRANSITIONS,
    Event,
    Generation,
    PredictionUpdate,
    Status,
    next_status,
)

T0 = datetime(2025, 11, 24, 10, 0, tzinfo=UTC)
P, R, C, F, X = Status.PENDING, Status.PROCESSING, Status.COMPLETED, Status.FAILED, Status.CANCELED

# The lifecycle as PRODUCT.md describes it, written out independently of the code.
SPEC_TRANSITIONS = {
    (P, Event.SUBMIT): R,
    (P, Event.PROGRESS): R,
    (P, Event.SUCCEED): C,
    (P, Event.FAIL): F,
    (P, Event.CANCEL): X,
    (R, Event.PROGRESS): R,
    (R, Event.SUCCEED): C,
    (R, Event.FAIL): F,
    (R, Event.CANCEL): X,
}
REPLICATE_STATUS_TO_STATUS = {
    "starting": R,
    "processing": R,
    "succeeded": C,
    "failed": F,
    "canceled": X,
    "aborted": X,
}
REPLICATE_STATUSES = list(REPLICATE_STATUS_TO_STATUS)
TERMINAL_REPLICATE = {"succeeded", "failed", "canceled", "aborted"}


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
        replicate_input={"prompt": "a fox"},
        cost=1,
        created_at=T0,
        updated_at=T0,
    )
    if status is R:
        generation.submitted("p1", "t1", T0)
    return generation


updates = st.builds(
    PredictionUpdate,
    prediction_id=st.just("p1"),
    status=st.sampled_from(REPLICATE_STATUSES + ["unknown", "queued"]),
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
        if update.status in TERMINAL_REPLICATE:
            return REPLICATE_STATUS_TO_STATUS[update.status], update
        if update.status in ("starting", "processing"):
            status = R
    return status, None


# --- the table itself -------------------------------------------------------------------


def test_the_transition_table_is_the_documented_lifecycle() -> None:
    assert TRANSITIONS == SPEC_TRANSITIONS
    for status, event in product(Status, Event):
        assert next_status(status, event) == SPEC_TRANSITIONS.get((status, event))


def test_terminal_states_have_no_way_out() -> None:
    assert TERMINAL == {C, F, X}
    for status, event in product(TERMINAL, Event):
        assert next_status(status, event) is None


def test_replicate_statuses_map_to_lifecycle_events() -> None:
    assert set(PROVIDER_EVENTS) == set(REPLICATE_STATUSES)
    for replicate_status, expected in REPLICATE_STATUS_TO_STATUS.items():
        assert next_status(R, PROVIDER_EVENTS[replicate_status]) is expected


# --- updates in any order ---------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([P, R]), shuffled_with_duplicates())
def test_any_order_of_updates_ends_where_the_first_terminal_one_says(start: Status, sequence) -> None:
    generation = new_generation(start)
    now = T0
    for update in sequence:
        now += timedelta(seconds=1)
        before = generation.status
        changed = generation.apply(update, now)
        assert changed == (generation.status is not before)
        if before in TERMINAL:
            assert not changed
    status, decisive = expected_outcome(start, sequence)
    assert generation.status is status
    if decisive is None:
        assert generation.completed_at is None
        assert generation.output_urls is None and generation.error_message is None
        return
    decided_at = T0 + timedelta(seconds=sequence.index(decisive) + 1)
    assert generation.completed_at == (decisive.completed_at or decided_at)
    expected_ms = None if decisive.predict_time is None else round(decisive.predict_time * 1000)
    assert generation.processing_time_ms == expected_ms
    if status is C:
        assert generation.output_urls == list(decisive.output or ())
        assert generation.error_message is None
    else:
        assert generation.output_urls is None
        assert generation.error_message
        if decisive.error:
            assert generation.error_message == decisive.error


@given(updates)
def test_a_late_processing_after_succeeded_changes_nothing(update: PredictionUpdate) -> None:
    generation = new_generation(R)
    done = PredictionUpdate("p1", "succeeded", output=("https://x.test/a.png",), predict_time=2.5)
    assert generation.apply(done, T0 + timedelta(seconds=5))
    snapshot = (generation.status, generation.output_urls, generation.completed_at, generation.updated_at)
    for late in (PredictionUpdate("p1", "processing"), PredictionUpdate("p1", "starting"), update, done):
        assert not generation.apply(late, T0 + timedelta(seconds=9))
    assert snapshot == (generation.status, generation.output_urls, generation.completed_at, generation.updated_at)


def test_a_second_succeeded_changes_nothing() -> None:
    generation = new_generation(R)
    generation.apply(PredictionUpdate("p1", "succeeded", output=("https://x.test/1.png",)), T0)
    assert not generation.apply(PredictionUpdate("p1", "succeeded", output=("https://x.test/2.png",)), T0)
    assert generation.output_urls == ["https://x.test/1.png"]


def test_aborted_means_canceled() -> None:
    generation = new_generation(R)
    assert generation.apply(PredictionUpdate("p1", "aborted"), T0)
    assert generation.status is X
    assert generation.error_message == "prediction aborted"


def test_predict_time_is_recorded_in_milliseconds() -> None:
    generation = new_generation(R)
    finished = T0 + timedelta(seconds=30)
    generation.apply(PredictionUpdate("p1", "succeeded", output=("u",), predict_time=2.3456, completed_at=finished), T0)
    assert generation.processing_time_ms == 2346
    assert generation.completed_at == finished


def test_an_update_for_a_pending_generation_records_the_prediction() -> None:
    generation = new_generation(P)
    assert generation.apply(PredictionUpdate("p9", "processing"), T0)
    assert (generation.status, generation.prediction_id) == (R, "p9")


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

    def expect_command(self, event: Event, command) -> None:
        target = SPEC_TRANSITIONS.get((self.model_status, event))
        if target is None:
            with pytest.raises(IllegalTransition) as caught:
                command()
            assert caught.value.current == self.model_status.value
            return
        command()
        self.model_status = target

    @rule()
    def submit(self) -> None:
        self.expect_command(Event.SUBMIT, lambda: self.generation.submitted("p1", "t1", self.tick()))

    @rule(message=st.text(min_size=1, max_size=10))
    def fail(self, message: str) -> None:
        self.expect_command(Event.FAIL, lambda: self.generation.fail(message, self.tick()))

    @rule()
    def cancel(self) -> None:
        self.expect_command(Event.CANCEL, lambda: self.generation.cancel(self.tick()))

    @rule(update=updates)
    def replicate_says(self, update: PredictionUpdate) -> None:
        before = self.generation.status
        changed = self.generation.apply(update, self.tick())
        target = REPLICATE_STATUS_TO_STATUS.get(update.status)
        if self.model_status in TERMINAL or target is None:
            assert not changed
            return
        self.model_status = target
        assert changed == (target is not before)

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
            self.generation.delete(self.tick())
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
