"""Money under concurrency, through the real use cases, on each SQL backend.

A user whose balance covers exactly 37 generations asks for 100 at once: exactly 37 are
accepted, the other 63 are refused for lack of credits, the balance ends at zero, the
ledger still sums to the balance, and the token counted every request. Then the same
from 4 OS processes sharing one PostgreSQL database. Finally a terminal update delivered
by many tasks at once resolves the hold exactly once, and creates that lock the account
and the token pool in every order the use cases allow never wait on each other in a cycle.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.sql import SqlDatabase
from adapters.system import UuidIds
from base_core.errors import InsufficientCredits, ProviderUnavailable
from base_core.generation import GenerationQuery, PredictionUpdate, Status, Trigger
from base_core.ledger import EntryKind, HoldState, hold_key_for
from base_core.ports import TokenCredential, UnitOfWorkFactory, WebhookTarget
from base_core.registry import GenerationRequest, builtin_registry
from base_core.tokens import RotationPolicy
from base_core.usecases import accounts, generations, tokens
from base_core.usecases.context import Context, StudioConfig
from base_testing import FakeInference, ManualClock

REQUESTS = 100
AFFORDABLE = 37
USER = "user-1"
REQUEST = GenerationRequest(action="create", model_id="flux-schnell", prompt="a cat in a hat")


class ProcessTaggedInference:
    """FakeInference numbers predictions per process; tag them so processes don't collide."""

    def __init__(self, inner: FakeInference, tag: str) -> None:
        self._inner = inner
        self._tag = tag

    async def create(
        self, token: TokenCredential, model: str, replicate_input: dict[str, Any], webhook: WebhookTarget | None
    ) -> PredictionUpdate:
        update = await self._inner.create(token, model, replicate_input, webhook)
        return attrs.evolve(update, prediction_id=f"{self._tag}-{update.prediction_id}")

    async def get(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self._inner.get(token, prediction_id.split("-", 1)[1])

    async def cancel(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self._inner.cancel(token, prediction_id.split("-", 1)[1])


def make_context(uow: UnitOfWorkFactory, initial_credits: int = 0, tag: str = "p0") -> Context:
    clock = ManualClock()
    return Context(
        uow=uow,
        inference=ProcessTaggedInference(FakeInference(clock), tag),
        registry=builtin_registry(),
        clock=clock,
        ids=UuidIds(),
        config=StudioConfig(max_in_flight_per_user=1000, initial_credits=initial_credits),
    )


async def prepare(uow: UnitOfWorkFactory) -> Context:
    """A user who can afford exactly AFFORDABLE generations, and one token."""
    price = builtin_registry().prepare(REQUEST).cost
    ctx = make_context(uow, initial_credits=AFFORDABLE * price)
    await accounts.ensure_user(ctx, USER)
    await tokens.add_token(ctx, "r8_concurrency_test_token")
    return ctx


async def create_many(ctx: Context, count: int) -> tuple[int, int, list[str]]:
    outcomes = await asyncio.gather(
        *(generations.create_generation(ctx, USER, REQUEST) for _ in range(count)),
        return_exceptions=True,
    )
    accepted = sum(1 for o in outcomes if not isinstance(o, BaseException))
    refused = sum(1 for o in outcomes if isinstance(o, InsufficientCredits))
    other = [repr(o) for o in outcomes if isinstance(o, BaseException) and not isinstance(o, InsufficientCredits)]
    return accepted, refused, other


async def assert_books_balance(ctx: Context, accepted: int) -> None:
    async with ctx.uow() as uow:
        account = await uow.ledger.account(USER)
        entries = await uow.ledger.entries(USER)
        page = await uow.generations.page(GenerationQuery(USER, limit=100))
        [token] = await uow.tokens.all()
    assert account.balance == 0
    assert sum(e.amount for e in entries) == account.balance
    assert sum(1 for e in entries if e.kind is EntryKind.HOLD) == accepted
    assert page.total == accepted
    assert all(g.status is Status.PROCESSING and g.prediction_id for g in page.items)
    assert token.request_count == accepted  # no lost counter update


async def test_one_hundred_concurrent_creates_take_exactly_the_affordable_ones(
    sql, sql_backend: str, tmp_path: Path
) -> None:
    async with sql.database(sql_backend, tmp_path, pool_size=10, max_overflow=10) as db:
        ctx = await prepare(db)
        accepted, refused, other = await create_many(ctx, REQUESTS)
        assert other == []
        assert (accepted, refused) == (AFFORDABLE, REQUESTS - AFFORDABLE)
        await assert_books_balance(ctx, accepted)


def _create_in_process(url: str, schema: str, tag: str, count: int, start_at: float) -> tuple[int, int, list[str]]:
    async def run() -> tuple[int, int, list[str]]:
        db = SqlDatabase.from_url(url, schema=schema, pool_size=10, max_overflow=5)
        try:
            await db.ping()  # connect before the starting gun
            time.sleep(max(0.0, start_at - time.time()))
            return await create_many(make_context(db, tag=tag), count)
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.mark.postgres
@pytest.mark.slow
async def test_creates_from_four_processes_take_exactly_the_affordable_ones(sql) -> None:
    url = sql.require_postgres_url()
    async with sql.postgres_schema(url) as schema:
        db = SqlDatabase.from_url(url, schema=schema)
        try:
            await db.migrate()
            ctx = await prepare(db)
            spawn = multiprocessing.get_context("spawn")
            start_at = time.time() + 4.0
            with ProcessPoolExecutor(max_workers=4, mp_context=spawn) as pool:
                futures = [
                    asyncio.wrap_future(
                        pool.submit(_create_in_process, url, schema, f"p{i}", REQUESTS // 4, start_at)
                    )
                    for i in range(4)
                ]
                results = await asyncio.gather(*futures)
            accepted = sum(r[0] for r in results)
            refused = sum(r[1] for r in results)
            assert [r[2] for r in results] == [[], [], [], []]
            assert (accepted, refused) == (AFFORDABLE, REQUESTS - AFFORDABLE)
            assert all(r[0] + r[1] == REQUESTS // 4 for r in results)
            await assert_books_balance(ctx, accepted)
        finally:
            await db.dispose()


async def _one_running_generation(uow: UnitOfWorkFactory) -> tuple[Context, Any, int]:
    price = builtin_registry().prepare(REQUEST).cost
    ctx = make_context(uow, initial_credits=10 * price)
    await accounts.ensure_user(ctx, USER)
    await tokens.add_token(ctx, "r8_race_test_token")
    generation = await generations.create_generation(ctx, USER, REQUEST)
    return ctx, generation, price


async def test_a_terminal_update_applied_by_many_tasks_settles_once(uow_factory) -> None:
    ctx, generation, price = await _one_running_generation(uow_factory)
    update = PredictionUpdate(generation.prediction_id, Trigger.SUCCEED, output=("https://x/1.png",))
    await asyncio.gather(*(generations.apply_update(ctx, update) for _ in range(8)))
    async with ctx.uow() as uow:
        entries = await uow.ledger.entries(USER)
        hold = await uow.ledger.hold_for_update(hold_key_for(generation.id))
        account = await uow.ledger.account(USER)
        stored = await uow.generations.get(generation.id)
    assert [e.kind for e in entries].count(EntryKind.SETTLE) == 1
    assert hold.state is HoldState.SETTLED
    assert stored.status is Status.COMPLETED
    assert account.balance == 9 * price == sum(e.amount for e in entries)


async def test_conflicting_terminal_updates_resolve_the_hold_once(uow_factory) -> None:
    ctx, generation, price = await _one_running_generation(uow_factory)
    succeeded = PredictionUpdate(generation.prediction_id, Trigger.SUCCEED, output=("https://x/1.png",))
    failed = PredictionUpdate(generation.prediction_id, Trigger.FAIL, error="boom")
    await asyncio.gather(
        *(generations.apply_update(ctx, succeeded if i % 2 else failed) for i in range(8)),
        generations.delete_generation(ctx, USER, generation.id),
        return_exceptions=True,
    )
    async with ctx.uow() as uow:
        entries = await uow.ledger.entries(USER)
        account = await uow.ledger.account(USER)
        stored = await uow.generations.get(generation.id)
    resolutions = [e for e in entries if e.kind in (EntryKind.SETTLE, EntryKind.VOID)]
    assert len(resolutions) == 1
    expected = 9 * price if stored.status is Status.COMPLETED else 10 * price
    assert account.balance == expected == sum(e.amount for e in entries)


class FinalAnswersWithOutages:
    """Answers every create as already finished; every other generation's first try gets a 503.

    So creates resolve their hold while recording the prediction (generation, hold,
    account), and tokens carry failures that a success then clears (the token, locked after
    the account) — next to other creates that lock the account and then the pool.
    """

    def __init__(self, inner: FakeInference) -> None:
        self._inner = inner
        self._generations = 0
        self._tried: set[int] = set()  # the input of a generation is one object across tries

    async def create(
        self, token: TokenCredential, model: str, replicate_input: dict[str, Any], webhook: WebhookTarget | None
    ) -> PredictionUpdate:
        if id(replicate_input) not in self._tried:
            self._tried.add(id(replicate_input))
            self._generations += 1
            if self._generations % 2 == 0:
                raise ProviderUnavailable("simulated outage", status=503)
        started = await self._inner.create(token, model, replicate_input, webhook)
        return self._inner.complete(started.prediction_id)

    async def get(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self._inner.get(token, prediction_id)

    async def cancel(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self._inner.cancel(token, prediction_id)


async def test_creates_that_settle_at_once_and_clear_token_failures_never_deadlock(
    sql, sql_backend: str, tmp_path: Path
) -> None:
    count = 60
    price = builtin_registry().prepare(REQUEST).cost
    async with sql.database(sql_backend, tmp_path, pool_size=20, max_overflow=10) as db:
        clock = ManualClock()
        ctx = Context(
            uow=db,
            inference=FinalAnswersWithOutages(FakeInference(clock)),
            registry=builtin_registry(),
            clock=clock,
            ids=UuidIds(),
            config=StudioConfig(max_in_flight_per_user=1000, initial_credits=count * price),
            # Outages never cool a token down here: every create must go through.
            policy=RotationPolicy(failure_threshold=10**6),
        )
        await accounts.ensure_user(ctx, USER)
        await tokens.add_token(ctx, "r8_lock_order_token_1")
        await tokens.add_token(ctx, "r8_lock_order_token_2")

        outcomes = await asyncio.gather(
            *(generations.create_generation(ctx, USER, REQUEST) for _ in range(count)),
            return_exceptions=True,
        )

        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        assert all(o.status is Status.COMPLETED for o in outcomes)
        async with ctx.uow() as uow:
            account = await uow.ledger.account(USER)
            entries = await uow.ledger.entries(USER)
            pool = await uow.tokens.all()
        assert account.balance == 0 == sum(e.amount for e in entries)
        assert [e.kind for e in entries].count(EntryKind.SETTLE) == count
        assert sum(t.error_count for t in pool) > 0
        assert sum(t.request_count for t in pool) == count + sum(t.error_count for t in pool)
