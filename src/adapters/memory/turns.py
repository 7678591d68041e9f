"""The store's lock: one unit of work at a time, in the order they asked.

What `asyncio.Lock` does, with a free lock taken without a coroutine: `take()` answers
None when the caller has the lock at once (the common case: one process, short units of
work that never wait on each other), or an awaitable that ends once the lock is the
caller's. `release()` hands the lock to the first caller still waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable


class Turns:
    __slots__ = ("_held", "_waiting")

    def __init__(self) -> None:
        self._held = False
        self._waiting: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    def take(self) -> Awaitable[None] | None:
        if not self._held:
            self._held = True
            return None
        return self._wait()

    async def _wait(self) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the lock just as we were cancelled: pass it on
            elif turn in self._waiting:
                self._waiting.remove(turn)
            raise

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("the store's lock is not held")
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the lock passes to it, still held
                return
        self._held = False


__all__ = ["Turns"]
