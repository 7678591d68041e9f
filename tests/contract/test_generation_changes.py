"""What the live streams read on every backend: a generation's version survives the
store, and `changed_since` returns a user's changed generations (deleted ones too),
oldest change first."""

from __future__ import annotations

from base_core.generation import PredictionUpdate, Status, Trigger


async def test_the_version_is_stored_and_grows_with_every_visible_change(uow_factory, build):
    await build.user_with_credits(uow_factory, "user-1")
    generation = build.generation("gen-1")
    assert generation.version == 1
    async with uow_factory() as uow:
        await uow.generations.add(generation)
        await uow.commit()
    submitted = generation.submitted("pred-1", "tok-1", build.at(1))
    done = submitted.advance(PredictionUpdate("pred-1", Trigger.SUCCEED, output=("https://x/1.png",)), build.at(2))
    deleted = done.delete(build.at(3))
    assert [submitted.version, done.version, deleted.version] == [2, 3, 4]
    assert [e.version for e in (*submitted.events, *done.events[1:], *deleted.events[2:])] == [2, 3, 4]
    async with uow_factory() as uow:
        await uow.generations.save(deleted)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.generations.get("gen-1")
    assert stored is not None and stored.version == 4
    # A lease is not a change a user sees.
    assert stored.leased(build.at(9)).version == 4


async def test_changed_since_is_one_users_changes_oldest_first_deleted_ones_too(uow_factory, build):
    await build.user_with_credits(uow_factory, "user-1")
    await build.user_with_credits(uow_factory, "user-2")
    async with uow_factory() as uow:
        await uow.generations.add(build.generation("old", updated_at=build.at(1)))
        await uow.generations.add(build.generation("late", updated_at=build.at(30)))
        await uow.generations.add(build.generation("mid", updated_at=build.at(20)))
        await uow.generations.add(build.generation("theirs", "user-2", updated_at=build.at(25)))
        await uow.generations.add(build.generation(
            "gone", status=Status.COMPLETED, updated_at=build.at(10),
            deleted_at=build.at(10)))
        await uow.commit()
    async with uow_factory() as uow:
        since_10 = await uow.generations.changed_since("user-1", build.at(10), 10)
        first_two = await uow.generations.changed_since("user-1", build.at(0), 2)
        none = await uow.generations.changed_since("user-1", build.at(31), 10)
    assert [g.id for g in since_10] == ["gone", "mid", "late"]
    assert since_10[0].is_deleted
    assert [g.id for g in first_two] == ["old", "gone"]
    assert none == []
