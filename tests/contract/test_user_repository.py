"""UserRepository: the same behaviour on every backend."""

from __future__ import annotations

import pytest

from base_core.errors import Conflict


async def test_an_added_user_comes_back_with_every_field(uow_factory, build) -> None:
    user = build.user(
        "user-1", telegram_id=2**40, telegram_username="кот_🐈", telegram_first_name="Ёжик",
        email="a@example.com", created_at=build.at(1.5),
    )
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get("user-1") == user
        assert await uow.users.get_by_telegram_id(2**40) == user


async def test_unknown_users_are_none(uow_factory, build) -> None:
    async with uow_factory() as uow:
        assert await uow.users.get("nobody") is None
        assert await uow.users.get_by_telegram_id(42) is None


async def test_a_taken_id_is_a_conflict(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1"))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.users.add(build.user("user-1", email="other@example.com"))


async def test_a_taken_telegram_id_is_a_conflict(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1", telegram_id=7))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.users.add(build.user("user-2", telegram_id=7))


async def test_users_without_telegram_do_not_collide(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1"))
        await uow.users.add(build.user("user-2"))
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.users.get("user-2")) is not None


async def test_a_conflict_leaves_the_unit_of_work_usable(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1"))
        with pytest.raises(Conflict):
            await uow.users.add(build.user("user-1"))
        await uow.users.add(build.user("user-2"))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get("user-1") is not None
        assert await uow.users.get("user-2") is not None


async def test_save_keeps_the_new_profile(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1", telegram_id=7, telegram_username="old"))
        await uow.commit()
    async with uow_factory() as uow:
        user = await uow.users.get("user-1")
        user = user.with_telegram_profile("new", "Name")
        assert user is not None
        await uow.users.save(user)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.users.get_by_telegram_id(7)
        assert (stored.telegram_username, stored.telegram_first_name) == ("new", "Name")
