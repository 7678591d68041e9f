"""A `text/event-stream` response that costs little while it waits.

Litestar's `ServerSentEvent` runs each stream in a task group of its own (a second task,
a cancel scope, events) and keeps the exception of its header step alive for the
stream's life; with thousands of idle streams that is most of what a stream costs. This
one sends already encoded events (`event`, `comment`) from the stream's own task, and
watches for the client leaving with one small task whose end calls `hang_up` (the
stream's place is freed at once; the stream ends when it next wakes).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from litestar.datastructures import MutableScopeHeaders
from litestar.response import Response
from litestar.response.base import ASGIResponse
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

if TYPE_CHECKING:
    from litestar.app import Litestar
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.connection import Request
    from litestar.datastructures import Cookie
    from litestar.types import Receive, Send, TypeEncodersMap

EVENT_STREAM = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
SEP = b"\r\n"
_SENT = MutableScopeHeaders()


def event(kind: str | None, data: bytes, id: int | None = None) -> bytes:
    """One event as it goes on the wire (`data` must be one line, as compact JSON is)."""
    head = b"" if id is None else b"id: %d\r\n" % id
    if kind is not None:
        head += b"event: " + kind.encode() + SEP
    return head + b"data: " + data + SEP + SEP


def comment(text: str) -> bytes:
    return b": " + text.encode() + SEP + SEP


class EventStream(Response[bytes]):
    """Sends `events` (bytes each) until they end; `hang_up(None)` is called if the client
    leaves (and once the stream is over)."""

    def __init__(
        self,
        events: AsyncIterator[bytes],
        hang_up: Callable[[object], None],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(b"", headers={**HEADERS, **(headers or {})}, media_type=EVENT_STREAM)
        self._events = events
        self._hang_up = hang_up

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: Any = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        # The request's parsed header copy is cached in its scope for the stream's whole
        # life; it was needed only to answer. Dropped, it is parsed again if asked for.
        ScopeState.from_scope(request.scope).headers = Empty
        return _Streaming(
            self._events,
            self._hang_up,
            background=self.background or background,
            cookies=self.cookies if cookies is None else itertools.chain(self.cookies, cookies),
            headers={**headers, **self.headers} if headers is not None else self.headers,
            is_head_response=is_head_response,
            media_type=EVENT_STREAM,
            status_code=self.status_code or status_code,
        )


class _Streaming(ASGIResponse):
    __slots__ = ("_events", "_hang_up")
    _should_set_content_length: ClassVar[bool] = False

    def __init__(
        self, events: AsyncIterator[bytes], hang_up: Callable[[object], None], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._events = events
        self._hang_up = hang_up

    async def start_response(self, send: Send) -> None:
        await super().start_response(send)
        self.headers = _SENT  # not kept for the stream's life

    async def send_body(self, send: Send, receive: Receive) -> None:
        listener = asyncio.ensure_future(_until_disconnect(receive))
        listener.add_done_callback(self._hang_up)
        try:
            async for chunk in self._events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            listener.cancel()
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                await aclose()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
