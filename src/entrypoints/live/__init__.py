"""Live status: the feed's listener in this process (`LiveHub`), the poll cache it keeps
fresh, and what the event streams wait on."""

from entrypoints.live.cache import CachedView, PollCache
from entrypoints.live.hub import LiveHub, Subscription, TooManyStreams, stop_all_streams
from entrypoints.live.reads import Seen, SharedReads

__all__ = ["CachedView", "LiveHub", "PollCache", "Seen", "SharedReads", "Subscription", "TooManyStreams", "stop_all_streams"]
