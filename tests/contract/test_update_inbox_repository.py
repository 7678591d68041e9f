"""UpdateInbox on every backend: webhook deliveries and parked updates."""

from __future__ import annotations

from base_core.generation import PredictionUpdate, Trigger


async def test_a_delivery_is_new_once(uow_factory, build) -> None:
    async with uow_factory() as uow:
        assert await uow.inbox.mark_delivered("msg-1", build.at(0)) is True
        assert await uow.inbox.mark_delivered("msg-1", build.at(1)) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.inbox.mark_delivered("msg-1", build.at(2)) is False
        assert await uow.inbox.mark_delivered("msg-2", build.at(2)) is True


async def test_a_rolled_back_delivery_was_never_seen(uow_factory, build) -> None:
    async with uow_factory() as uow:
        assert await uow.inbox.mark_delivered("msg-1", build.at(0)) is True
    async with uow_factory() as uow:
        assert await uow.inbox.mark_delivered("msg-1", build.at(1)) is True


async def test_parked_updates_come_back_once_in_arrival_order(uow_factory, build) -> None:
    first = PredictionUpdate("pred-1", Trigger.PROGRESS)
    second = PredictionUpdate(
        "pred-1", Trigger.SUCCEED, output=("https://x/1.png", "https://x/2.png"), predict_time=1.25,
        completed_at=build.at(3),
    )
    other = PredictionUpdate("pred-2", Trigger.FAIL, error="ошибка", output=None)
    async with uow_factory() as uow:
        await uow.inbox.park(first, build.at(1))
        await uow.inbox.park(other, build.at(2))
        await uow.inbox.park(second, build.at(3))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.inbox.take("pred-1") == [first, second]
        assert await uow.inbox.take("pred-1") == []
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.inbox.take("pred-1") == []
        assert await uow.inbox.take("pred-2") == [other]
        # Not committed: the update stays parked.
    async with uow_factory() as uow:
        assert await uow.inbox.take("pred-2") == [other]
        assert await uow.inbox.take("unknown") == []
