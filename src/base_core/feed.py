"""The live feed: which generation changed, told to every process serving the database.

A change is small on purpose (ids and the generation's version): whoever needs the new
state reads it. The feed is a port (`ChangeFeed` in ports.py) with an in-process adapter
and a PostgreSQL LISTEN/NOTIFY one; `publish_changes` is the subscriber of the domain
events that puts every committed generation change on it, so no use case calls the feed.

`connected` is the feed's promise: while it is true, every change committed by any
process reaches the listeners. While it is false (a PostgreSQL listener reconnecting),
listeners must read the database themselves; `connection_changed` tells them when that
starts and ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs

from base_core.events import GenerationEvent, OutputsNotKept


@attrs.frozen
class GenerationChange:
    generation_id: str
    user_id: str
    version: int


class FeedListener(Protocol):
    def changed(self, change: GenerationChange) -> None: ...

    def connection_changed(self, connected: bool) -> None: ...


class ChangeFeed(Protocol):
    @property
    def connected(self) -> bool: ...

    def listen(self, listener: FeedListener) -> None: ...

    async def publish(self, change: GenerationChange) -> None:
        """Tell every process (this one first); never raises for a feed that is down."""
        ...


def change_of(event: GenerationEvent) -> GenerationChange | None:
    """What a generation event tells the feed; None for one that changed nothing stored."""
    if isinstance(event, OutputsNotKept) or event.version <= 0:
        return None
    return GenerationChange(event.generation_id, event.user_id, event.version)


def publish_changes(feed: ChangeFeed) -> Callable[[GenerationEvent], Awaitable[None]]:
    """The dispatcher's subscriber: `dispatcher.subscribe(publish_changes(feed), GenerationEvent)`."""

    async def publish(event: GenerationEvent) -> None:
        change = change_of(event)
        if change is not None:
            await feed.publish(change)

    return publish


__all__ = ["ChangeFeed", "FeedListener", "GenerationChange", "change_of", "publish_changes"]
