"""Ending the live event streams as soon as the server begins a graceful stop.

On SIGTERM or SIGINT uvicorn stops taking connections, then waits for the open ones to
finish; an event stream never finishes by itself, so every stop would wait out its whole
bound. While the app runs, its own handler of those signals first asks the event loop to
end every stream of the process (`event: closing`; clients open them again, and another
process answers), then hands the signal to the handler it replaced (uvicorn's), and puts
that handler back when the app stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from entrypoints.live import stop_all_streams

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def streams_end_on_stop() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only (e.g. a test client's portal thread)
        return
    loop = asyncio.get_running_loop()
    replaced: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop_all_streams)
        previous = replaced.get(signum)
        if callable(previous):
            previous(signum, frame)
        else:  # no handler before ours: what the signal would have done
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            signal.raise_signal(signum)

    for sig in SIGNALS:
        replaced[sig] = signal.getsignal(sig)
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for signum, previous in replaced.items():
            if signal.getsignal(signum) is handle:
                signal.signal(signum, previous)


__all__ = ["streams_end_on_stop"]
