"""Unit-of-work semantics on every backend: commit, rollback, isolation."""

from __future__ import annotations

import attrs
import pytest

from base_core.errors import Conflict


class Boom(Exception):
    pass


async def test_nothing_is_kept_without_a_commit(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1"))
    async with uow_factory() as uow:
        assert await uow.users.get("user-1") is None


async def test_an_exception_rolls_everything_back(uow_factory, build) -> None:
    with pytest.raises(Boom):
        async with uow_factory() as uow:
            await uow.users.add(build.user("user-1"))
            await uow.tokens.add(build.token("tok-1"))
            raise Boom
    async with uow_factory() as uow:
        assert await uow.users.get("user-1") is None
        assert await uow.tokens.all() == []


async def test_rollback_drops_what_was_not_committed(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1"))
        await uow.commit()
        await uow.users.add(build.user("user-2"))
        await uow.rollback()
        await uow.users.add(build.user("user-3"))
        await uow.commit()
    async with uow_factory() as uow:
        assert [await uow.users.get(u) is not None for u in ("user-1", "user-2", "user-3")] == [
            True, False, True,
        ]


async def test_a_unit_of_work_reads_its_own_writes(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1", telegram_id=5))
        assert (await uow.users.get_by_telegram_id(5)).id == "user-1"
        await uow.tokens.add(build.token("tok-1"))
        assert [t.id for t in await uow.tokens.all()] == ["tok-1"]


async def test_objects_read_cannot_change_what_is_stored(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.users.add(build.user("user-1", email="a@example.com"))
        await uow.generations.add(build.generation("gen-1", user_id="user-1", settings={"n": [1]}))
        await uow.commit()
    async with uow_factory() as uow:
        user = await uow.users.get("user-1")
        generation = await uow.generations.get("gen-1")
        with pytest.raises(AttributeError):
            user.email = "changed@example.com"
        with pytest.raises(TypeError):
            generation.settings["n"] = 2
        with pytest.raises(AttributeError):
            generation.settings["n"].append(2)  # a tuple
        changed = attrs.evolve(user, email="changed@example.com")  # a new object, not saved
        assert changed.email != user.email
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.users.get("user-1")).email == "a@example.com"
        assert (await uow.generations.get("gen-1")).settings == {"n": (1,)}


async def test_a_generation_needs_its_user(sql_db, build) -> None:
    """A foreign key of the schema; the memory store leaves foreign keys to databases."""
    async with sql_db() as uow:
        with pytest.raises(Conflict):
            await uow.generations.add(build.generation("gen-1", user_id="nobody"))
