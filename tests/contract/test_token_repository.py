"""TokenRepository on every backend."""

from __future__ import annotations

import pytest

from base_core.errors import Conflict, TokenRateLimited
from base_core.tokens import RotationPolicy


async def test_a_token_comes_back_with_every_field(uow_factory, build) -> None:
    token = build.token(
        "tok-1", "r8_" + "x" * 40, label="основной 🔑", is_active=False, request_count=2**40,
        error_count=7, last_used_at=build.at(5), cooldown_until=build.at(60),
        consecutive_failures=2, disabled_reason="rejected by Replicate (401)",
    )
    async with uow_factory() as uow:
        await uow.tokens.add(token)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.tokens.get("tok-1") == token
        assert await uow.tokens.get_for_update("tok-1") == token
        assert await uow.tokens.get_by_secret("r8_" + "x" * 40) == token
        assert await uow.tokens.get("missing") is None
        assert await uow.tokens.get_by_secret("missing") is None


async def test_ids_and_secrets_are_unique(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.tokens.add(build.token("tok-1", "secret-1"))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.tokens.add(build.token("tok-1", "secret-2"))
        with pytest.raises(Conflict):
            await uow.tokens.add(build.token("tok-2", "secret-1"))


async def test_the_pool_lists_in_a_stable_order(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.tokens.add(build.token("tok-b", "s-b", created_at=build.at(1)))
        await uow.tokens.add(build.token("tok-c", "s-c", created_at=build.at(0)))
        await uow.tokens.add(build.token("tok-a", "s-a", created_at=build.at(1)))
        await uow.commit()
    async with uow_factory() as uow:
        assert [t.id for t in await uow.tokens.all()] == ["tok-c", "tok-a", "tok-b"]
        assert [t.id for t in await uow.tokens.all_for_update()] == ["tok-c", "tok-a", "tok-b"]


async def test_save_keeps_counters_and_cooldown(uow_factory, build) -> None:
    async with uow_factory() as uow:
        await uow.tokens.add(build.token("tok-1", "s-1"))
        await uow.commit()
    async with uow_factory() as uow:
        [token] = await uow.tokens.all_for_update()
        token = token.record_request(build.at(1))
        token = token.record_failure(TokenRateLimited(30), build.at(1), RotationPolicy())
        await uow.tokens.save(token)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.tokens.get("tok-1")
        assert stored == token
        assert (stored.request_count, stored.error_count, stored.cooldown_until) == (1, 1, build.at(31))
