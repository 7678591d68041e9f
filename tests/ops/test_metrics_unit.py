"""Metrics counted from the domain events and the wrapped ports, in process."""

from __future__ import annotations

import pytest
from ops_helpers import samples, total, value
from prometheus_client import generate_latest

from adapters.memory import MemoryStore
from base_core import Context, GenerationRequest, Studio, StudioConfig, builtin_registry
from base_core.errors import NoTokenAvailable, ProviderUnavailable, TokenRateLimited
from base_core.events import CreditsGranted, CreditsPurchased, EventDispatcher
from base_core.usecases.reconcile import ReconcileReport
from base_testing import FakeInference, ManualClock, SequentialIds
from entrypoints.metrics import MeasuredInference, Metrics, TokenLabels, counting_duplicates

REQUEST = GenerationRequest(action="create", model_id="flux-schnell", prompt="a fox", settings={"num_outputs": 2})


def _measured() -> tuple[Studio, FakeInference, ManualClock, Metrics]:
    clock = ManualClock()
    replicate = FakeInference(clock)
    store = MemoryStore()
    dispatcher = EventDispatcher()
    studio: Studio
    metrics = Metrics(vitals=lambda: studio.vitals())
    metrics.subscribe(dispatcher)
    studio = Studio(Context(
        uow=counting_duplicates(store, metrics), inference=MeasuredInference(replicate, metrics, TokenLabels(store)),
        registry=builtin_registry(), clock=clock, ids=SequentialIds(), config=StudioConfig(initial_credits=10),
        dispatcher=dispatcher,
    ))
    return studio, replicate, clock, metrics


async def _exposition(metrics: Metrics) -> dict:
    await metrics.refresh()
    return samples(generate_latest(metrics.registry).decode())


async def test_generations_credits_and_durations_follow_the_events() -> None:
    studio, replicate, clock, metrics = _measured()
    await studio.add_token("r8_unit_token_main_0001", label="main")
    user = await studio.ensure_user("u1")
    done = await studio.create_generation(user.user.id, REQUEST)
    failed = await studio.create_generation(user.user.id, REQUEST)
    canceled = await studio.create_generation(user.user.id, REQUEST)
    clock.advance(seconds=7)
    assert done.prediction_id and failed.prediction_id
    await studio.apply_update(replicate.complete(done.prediction_id), "delivery-1")
    await studio.apply_update(replicate.complete(done.prediction_id), "delivery-1")  # a duplicate
    await studio.apply_update(replicate.fail(failed.prediction_id))
    await studio.delete_generation(user.user.id, canceled.id)

    m = await _exposition(metrics)
    flux = {"model": "flux-schnell", "action": "create"}
    assert value(m, "base_generations_accepted_total", **flux) == 3
    for status in ("completed", "failed", "canceled"):
        assert value(m, "base_generations_ended_total", **flux, status=status) == 1
    assert value(m, "base_generation_duration_seconds_sum", model="flux-schnell", status="completed") == 7
    assert value(m, "base_generation_duration_seconds_bucket", model="flux-schnell", status="completed", le="5.0") == 0
    assert value(m, "base_generation_duration_seconds_bucket", model="flux-schnell", status="completed", le="10.0") == 1
    assert value(m, "base_credits_held_total") == 6
    assert value(m, "base_credits_settled_total") == 2
    assert value(m, "base_credits_refunded_total") == 4
    assert value(m, "base_webhooks_duplicated_total") == 1
    assert value(m, "base_credit_holds_pending") == 0
    assert value(m, "base_tokens", state="active") == 1
    assert value(m, "base_replicate_calls_total", operation="create", outcome="ok", token="main") == 3
    assert value(m, "base_replicate_calls_total", operation="cancel", outcome="ok", token="main") == 1


async def test_replicate_failures_are_counted_by_outcome_under_the_tokens_label() -> None:
    studio, replicate, _, metrics = _measured()
    await studio.add_token("r8_unit_token_first_001", label="first")
    await studio.add_token("r8_unit_token_second_02", label="second")
    replicate.fail_next(TokenRateLimited(30.0, "throttled"), ProviderUnavailable("down"))
    user = await studio.ensure_user("u1")
    with pytest.raises(NoTokenAvailable):  # both tokens fail: no token left, nothing held
        await studio.create_generation(user.user.id, REQUEST)
    m = await _exposition(metrics)
    outcomes = {
        outcome: total(m, "base_replicate_calls_total", operation="create", outcome=outcome)
        for outcome in ("rate_limited", "unavailable", "ok")
    }
    assert outcomes == {"rate_limited": 1, "unavailable": 1, "ok": 0}
    labels = {dict(ls)["token"] for (name, ls) in m if name == "base_replicate_calls_total"}
    assert labels == {"first", "second"}
    assert value(m, "base_tokens", state="cooling") == 1


def test_only_paid_purchases_count_as_credits_purchased() -> None:
    metrics = Metrics()
    common = {"at": ManualClock().now(), "user_id": "u", "balance": 10, "key": "k"}
    metrics.on_event(CreditsPurchased(amount=5, purchase_id="p", provider="stripe", pack_id="starter", **common))
    metrics.on_event(CreditsGranted(amount=100, reason="initial credits", **common))
    metrics.on_event(CreditsGranted(amount=7, reason="purchase made by hand", **common))
    m = samples(generate_latest(metrics.registry).decode())
    assert value(m, "base_credits_purchased_total") == 5


def test_reconciler_rounds_are_counted_with_what_they_did() -> None:
    metrics = Metrics()
    metrics.on_reconciled(ReconcileReport(claimed=3, asked=2, holds_resolved=1, problems=["x"]))
    metrics.on_reconciled(ReconcileReport())
    m = samples(generate_latest(metrics.registry).decode())
    assert value(m, "base_reconciler_runs_total") == 2
    assert value(m, "base_reconciler_actions_total", action="asked") == 2
    assert value(m, "base_reconciler_actions_total", action="holds_resolved") == 1
    assert value(m, "base_reconciler_problems_total") == 1


def test_the_open_event_streams_are_read_on_each_scrape() -> None:
    metrics = Metrics()
    open_streams = [3]
    metrics.watch_streams(lambda: open_streams[0])
    assert value(samples(generate_latest(metrics.registry).decode()), "base_live_streams") == 3
    open_streams[0] = 0
    assert value(samples(generate_latest(metrics.registry).decode()), "base_live_streams") == 0
