"""Whole lifecycles through the simulator: signed webhooks to a loopback receiver, or the poller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from replicate_support import (
    FLUX_REQUEST,
    INITIAL_CREDITS,
    USER,
    CreateHeldBack,
    WebhookReceiver,
    build_studio,
    eventually,
    settled_once,
)

from adapters.memory import MemoryStore
from adapters.replicate import ReplicateInference, ReplicateWebhooks, WebhookSecrets
from adapters.system import SystemClock
from base_core.background import Poller
from base_core.generation import Generation, Status
from base_core.ports import WebhookTarget
from base_core.studio import Studio
from base_core.usecases.polling import PollSchedule
from replicate_simulator import Simulator

TOKEN = "r8_lifecycle_0001"


@pytest.fixture
async def receiver(sim: Simulator, inference: ReplicateInference) -> AsyncIterator[WebhookReceiver]:
    """A receiver verifying with the token's account secret, fetched from the simulator."""
    sim.add_token(TOKEN)
    store = MemoryStore()
    verifier = ReplicateWebhooks(WebhookSecrets(store, inference.webhook_secret), SystemClock())
    receiver = WebhookReceiver(verifier, studio=None)  # type: ignore[arg-type]
    await receiver.start()
    receiver.studio = build_studio(inference, SystemClock(), store=store, webhook=WebhookTarget(receiver.url))
    await receiver.studio.add_token(TOKEN)
    await receiver.studio.ensure_user(USER)
    yield receiver
    await receiver.stop()


async def wait_completed(studio: Studio, generation_id: str) -> Generation:
    async def completed() -> bool:
        return (await studio.generation(USER, generation_id)).is_terminal

    await eventually(completed, what="the generation to end")
    return await studio.generation(USER, generation_id)


@pytest.mark.parametrize(
    ("fault", "expected_statuses"),
    [
        pytest.param(None, ["processing", "succeeded"], id="in-order"),
        pytest.param("duplicate", ["processing", "processing", "succeeded", "succeeded"], id="duplicate"),
        pytest.param("out_of_order", ["succeeded", "processing"], id="out-of-order"),
    ],
)
async def test_a_generation_completes_by_webhook(
    sim: Simulator, receiver: WebhookReceiver, fault: str | None, expected_statuses: list[str]
) -> None:
    studio = receiver.studio
    if fault is not None:
        sim.faults.next_requests(1, webhook=fault)

    generation = await studio.create_generation(USER, FLUX_REQUEST)
    prediction_id = generation.prediction_id or ""

    async def all_delivered() -> bool:
        return len(receiver.received(prediction_id)) == len(expected_statuses)

    await eventually(all_delivered, what="every webhook")
    deliveries = receiver.received(prediction_id)
    assert [d.prediction_status for d in deliveries] == expected_statuses
    assert all(d.answered == 200 for d in deliveries)
    assert len({d.webhook_id for d in deliveries}) == 2  # copies of one delivery share its id

    done = await studio.generation(USER, generation.id)
    assert done.status is Status.COMPLETED
    assert done.output_urls and all(url.startswith(sim.base_url) for url in done.output_urls)
    assert done.processing_time_ms is not None
    assert await studio.balance(USER) == INITIAL_CREDITS - generation.cost
    assert await settled_once(studio)


async def test_webhooks_that_beat_the_create_call_are_kept_and_applied(
    sim: Simulator, receiver: WebhookReceiver, inference: ReplicateInference
) -> None:
    def terminal_webhook_arrived(prediction_id: str) -> bool:
        return any(d.prediction_status == "succeeded" for d in receiver.received(prediction_id))

    held_back = CreateHeldBack(inference, terminal_webhook_arrived)
    studio = build_studio(
        held_back, SystemClock(), store=receiver.studio.context.uow, webhook=WebhookTarget(receiver.url)  # type: ignore[arg-type]
    )
    receiver.studio = studio

    generation = await studio.create_generation(USER, FLUX_REQUEST)

    deliveries = receiver.received(generation.prediction_id or "")
    assert [d.prediction_status for d in deliveries] == ["processing", "succeeded"]
    assert all(d.answered == 200 for d in deliveries)  # accepted, kept until the create was stored
    assert generation.status is Status.COMPLETED
    assert await studio.balance(USER) == INITIAL_CREDITS - generation.cost
    assert await settled_once(studio)


async def test_a_refused_webhook_changes_nothing_and_replicates_retry_completes_it(
    sim: Simulator, receiver: WebhookReceiver
) -> None:
    studio = receiver.studio
    # The first secret fetch fails: the first webhook is refused; the terminal one is retried.
    sim.faults.next_requests(2, operation="secret", status=503)

    generation = await studio.create_generation(USER, FLUX_REQUEST)
    done = await wait_completed(studio, generation.id)

    answers = [(d.answered, d.prediction_status) for d in receiver.deliveries]
    assert (401, None) in answers and answers[-1] == (200, "succeeded")
    assert done.status is Status.COMPLETED
    assert await settled_once(studio)


@pytest.mark.parametrize("with_webhook", [True, False], ids=["webhooks-lost", "no-webhooks"])
async def test_the_poller_completes_generations_whose_webhooks_never_come(
    sim: Simulator, inference: ReplicateInference, with_webhook: bool
) -> None:
    sim.add_token(TOKEN)
    target = WebhookTarget("http://127.0.0.1:9/api/webhook/replicate") if with_webhook else None
    studio = build_studio(inference, SystemClock(), webhook=target)
    await studio.add_token(TOKEN)
    await studio.ensure_user(USER)
    if with_webhook:
        sim.faults.next_requests(3, webhook="lost")
    schedule = PollSchedule(first_after=timedelta(seconds=0.1), max_interval=timedelta(seconds=0.5))

    async with Poller(studio, interval=0.05, schedule=schedule) as poller:
        generations = [await studio.create_generation(USER, FLUX_REQUEST) for _ in range(3)]
        for generation in generations:
            done = await wait_completed(studio, generation.id)
            assert done.status is Status.COMPLETED and done.output_urls
        assert poller.running
    assert not poller.running

    assert not sim.webhook_attempts()
    assert await studio.balance(USER) == INITIAL_CREDITS - sum(g.cost for g in generations)
    kinds = [entry.kind.value for entry in await studio.ledger(USER)]
    assert kinds.count("settle") == 3 and "void" not in kinds
