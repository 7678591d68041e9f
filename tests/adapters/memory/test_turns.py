"""The memory store's lock: one holder at a time, first come first served, and a waiter
that is cancelled neither keeps nor loses the lock for the others."""

from __future__ import annotations

import asyncio

import pytest

from adapters.memory.turns import Turns


async def _take(turns: Turns) -> None:
    waiting = turns.take()
    if waiting is not None:
        await waiting


async def test_a_free_lock_is_taken_without_waiting() -> None:
    turns = Turns()
    assert turns.take() is None and turns.locked()
    turns.release()
    assert not turns.locked()


async def test_waiters_get_the_lock_in_the_order_they_asked() -> None:
    turns = Turns()
    await _take(turns)
    order: list[int] = []

    async def worker(n: int) -> None:
        await _take(turns)
        order.append(n)
        await asyncio.sleep(0)
        turns.release()

    tasks = [asyncio.create_task(worker(n)) for n in range(5)]
    await asyncio.sleep(0)
    assert order == []  # all waiting on the holder
    turns.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4] and not turns.locked()


async def test_a_waiter_cancelled_while_waiting_is_skipped() -> None:
    turns = Turns()
    await _take(turns)
    first = asyncio.create_task(_take(turns))
    second = asyncio.create_task(_take(turns))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    turns.release()
    await second
    assert first.cancelled() and turns.locked()
    turns.release()
    assert not turns.locked()


async def test_a_waiter_cancelled_once_handed_the_lock_passes_it_on() -> None:
    turns = Turns()
    await _take(turns)
    first = asyncio.create_task(_take(turns))
    second = asyncio.create_task(_take(turns))
    await asyncio.sleep(0)
    turns.release()  # the lock is now the first waiter's ...
    first.cancel()  # ... which is cancelled before it runs
    await second
    assert first.cancelled() and turns.locked()
    turns.release()
    assert not turns.locked()


async def test_releasing_a_free_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        Turns().release()
