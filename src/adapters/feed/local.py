"""The feed inside one process: memory, and SQLite served by one process."""

from __future__ import annotations

from base_core.feed import FeedListener, GenerationChange


class LocalFeed:
    """Hands each change to this process's listeners at once; always connected."""

    def __init__(self) -> None:
        self._listeners: list[FeedListener] = []

    @property
    def connected(self) -> bool:
        return True

    def listen(self, listener: FeedListener) -> None:
        self._listeners.append(listener)

    async def publish(self, change: GenerationChange) -> None:
        for listener in self._listeners:
            listener.changed(change)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        self._listeners.clear()
