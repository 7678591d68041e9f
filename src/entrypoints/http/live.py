"""Live status over HTTP: the two event streams, and the poll answered from the cache.

`GET /api/generations/{id}/events` sends the generation as `GET /api/generations/{id}`
returns it, then its state after every change (`event: generation`, `id:` the
generation's version), and ends once it is terminal (after its outputs were copied, or
`OUTPUT_GRACE` seconds later), or with `event: deleted` when it is deleted. Each event is
the state read when the change was heard of, so changes that follow each other faster
than the stream is read arrive as one event with the newest state (the versions say so).
`Last-Event-ID: <version>` resumes: nothing the client has is sent again.

`GET /api/generations/events` sends every change of the caller's generations (optionally
only those of one action or status; deletions always), open until the client leaves. A
reader so slow that more than the hub's queue size of changed generations wait for it is
told `event: overflow` and its stream ends: nothing is dropped silently.

When the process begins a graceful stop, every stream ends at once with `event: closing`
(the client opens it again, and another process answers), so the stop need not wait for
streams that would never end by themselves.

Both send a `: keep-alive` comment after `keepalive` seconds of silence; a stream that
ends or whose client goes away frees its place under the per-user cap at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from litestar import Controller, get
from litestar.params import FromPath, FromQuery, HeaderParameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from litestar.serialization import encode_json

from base_core import Action, Generation, Status, Studio
from base_core.errors import InfrastructureError, NotFound
from entrypoints.bootstrap import Services
from entrypoints.http.dependencies import (
    CALLER,
    SECURITY,
    CallerDep,
    KeyLinksDep,
    ServicesDep,
    path_id,
)
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import KeyLinks, generation_out
from entrypoints.live import CachedView, LiveHub, Subscription

T = TypeVar("T")
EVENT_STREAM = "text/event-stream"
EVENT = "generation"
DELETED = "deleted"
OVERFLOW = "overflow"
CLOSING = "closing"
KEEPALIVE = ServerSentEventMessage(data=None, comment="keep-alive")
# How long a completed stream waits for its outputs to be copied before it ends anyway.
OUTPUT_GRACE = 30.0
# How far back a gallery stream reads when it must read (clock skew between processes).
SKEW = timedelta(seconds=2)
LOOKBACK = timedelta(seconds=30)
CHANGED_PAGE = 500
MAX_REMEMBERED = 10_000
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def generation_json(generation: Generation, links: KeyLinks) -> bytes:
    """The generation's JSON exactly as `GET /api/generations/{id}` writes it."""
    return encode_json(generation_out(generation, links))


async def read_generation(
    services: Services, user_id: str, generation_id: str, links: KeyLinks, base: str | None
) -> bytes:
    """The poll's answer: from the cache while the feed is connected, else the database.

    The stored copies' URLs depend on the public base, which may be the address the
    request came to (`base`); a cached body is reused only for the same base, and never
    when the URLs are signed for a limited time (`base` None): then the cached generation
    is written out again, still without reading the database."""
    live = services.live
    if live is None:
        return generation_json(await services.studio.generation(user_id, generation_id), links)
    cache = live.cache
    view = cache.get(generation_id)
    if view is not None:
        if view.deleted or view.user_id != user_id or view.generation is None:
            raise NotFound("generation", generation_id)
        if base is not None and view.base == base:
            return view.body
        return generation_json(view.generation, links)
    ticket = cache.ticket(generation_id)
    generation = await services.studio.find_generation(user_id, generation_id)
    if generation is None:
        raise NotFound("generation", generation_id)
    if generation.is_deleted:
        cache.put(generation_id, ticket, CachedView(generation.user_id, True, b"", None, None))
        raise NotFound("generation", generation_id)
    body = generation_json(generation, links)
    cache.put(generation_id, ticket, CachedView(generation.user_id, False, body, generation, base))
    return body


def _message(generation: Generation, links: KeyLinks) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        data=generation_json(generation, links).decode(), event=EVENT, id=generation.version
    )


def _deleted(generation_id: str, version: int) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        data=encode_json({"id": generation_id, "deleted": True}).decode(), event=DELETED, id=version
    )


def _overflow(limit: int) -> ServerSentEventMessage:
    detail = (
        f"more than {limit} changed generations were waiting for this stream; it is closed. "
        "Open it again and read the list for what changed meanwhile."
    )
    return ServerSentEventMessage(data=encode_json({"detail": detail}).decode(), event=OVERFLOW)


def _closing() -> ServerSentEventMessage:
    detail = "this server is stopping; open the stream again (another process will answer)"
    return ServerSentEventMessage(data=encode_json({"detail": detail}).decode(), event=CLOSING)


def _resume_after(raw: str | None) -> int:
    """The version named by Last-Event-ID; anything else resumes from nothing."""
    if raw is None or not raw.strip().isdigit() or len(raw.strip()) > 18:
        return 0
    return int(raw.strip())


async def _read(reading: Coroutine[Any, Any, T]) -> T:
    """A stream's database read, finished even when the client leaves in the middle of it:
    a unit of work cut off by the cancellation could leave its connection (on SQLite, the
    write lock) in a state the next user waits on. The stream itself still ends at once."""
    task = asyncio.ensure_future(reading)
    task.add_done_callback(_retrieved)  # nobody may be left to look at its outcome
    return await asyncio.shield(task)


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _hub(services: Services) -> LiveHub:
    if services.live is None:
        raise InfrastructureError("live status is not running in this process")
    return services.live


async def _follow_one(
    live: LiveHub, studio: Studio, subscription: Subscription, first: Generation, sent: int,
    links: KeyLinks,
) -> AsyncIterator[ServerSentEventMessage]:
    user_id, generation_id = first.user_id, first.id
    generation: Generation | None = first
    now = time.monotonic()
    keepalive_at = now + live.keepalive
    poll_at = now + live.poll_interval
    ended_at: float | None = None
    retry = False
    try:
        while True:
            if generation is None or generation.is_deleted:
                version = generation.version if generation is not None else sent + 1
                yield _deleted(generation_id, max(version, sent + 1))
                return
            if generation.version > sent:
                sent = generation.version
                yield _message(generation, links)
                keepalive_at = time.monotonic() + live.keepalive
            now = time.monotonic()
            if generation.is_terminal:
                ended_at = ended_at or now
                if not generation.needs_output_copy or now - ended_at >= OUTPUT_GRACE:
                    return
            deadline = keepalive_at
            if live.must_poll:
                deadline = min(deadline, poll_at)
            if ended_at is not None:
                deadline = min(deadline, ended_at + OUTPUT_GRACE)
            if retry:
                deadline = min(deadline, poll_at)
            woke = await subscription.wait(max(deadline - time.monotonic(), 0.0))
            if subscription.stopping:
                yield _closing()
                return
            subscription.take()
            resync = subscription.take_resync()
            now = time.monotonic()
            poll_due = (live.must_poll or retry) and now >= poll_at
            if woke or resync or poll_due or ended_at is not None:
                poll_at = now + live.poll_interval
                try:
                    generation = await _read(studio.find_generation(user_id, generation_id))
                    retry = False
                except InfrastructureError:  # the database is away: read again shortly
                    retry = True
            if time.monotonic() >= keepalive_at:
                yield KEEPALIVE
                keepalive_at = time.monotonic() + live.keepalive
    finally:
        subscription.close()


def _wanted(generation: Generation, action: Action | None, status: Status | None) -> bool:
    return (action is None or generation.action is action) and (
        status is None or generation.status is status
    )


async def _changed_since(studio: Studio, user_id: str, since: datetime) -> list[Generation]:
    found: list[Generation] = []
    for _ in range(20):  # pages of changes, oldest first
        page = await studio.generations_changed_since(user_id, since, CHANGED_PAGE)
        found.extend(page)
        if len(page) < CHANGED_PAGE or page[-1].updated_at == since:
            break
        since = page[-1].updated_at
    return found


async def _follow_user(
    live: LiveHub,
    studio: Studio,
    subscription: Subscription,
    action: Action | None,
    status: Status | None,
    links: KeyLinks,
) -> AsyncIterator[ServerSentEventMessage]:
    user_id = subscription.user_id
    clock = studio.context.clock
    cursor = clock.now() - SKEW
    sent: dict[str, int] = {}
    now = time.monotonic()
    keepalive_at = now + live.keepalive
    poll_at = now + live.poll_interval
    try:
        # A comment first, so the client knows the stream is open (there is no state to send).
        yield KEEPALIVE
        while True:
            deadline = min(keepalive_at, poll_at) if live.must_poll else keepalive_at
            await subscription.wait(max(deadline - time.monotonic(), 0.0))
            if subscription.stopping:
                yield _closing()
                return
            if subscription.overflowed:
                yield _overflow(live.queue_size)
                return
            heard = subscription.take()
            resync = subscription.take_resync()
            found: list[Generation] = []
            try:
                if resync or (live.must_poll and time.monotonic() >= poll_at):
                    poll_at = time.monotonic() + live.poll_interval
                    started = clock.now()
                    found = await _read(_changed_since(studio, user_id, cursor))
                    cursor = started - SKEW
                elif not live.must_poll:
                    cursor = max(cursor, clock.now() - LOOKBACK)
                for generation_id, version in heard.items():
                    if version <= sent.get(generation_id, 0):
                        continue
                    generation = await _read(studio.find_generation(user_id, generation_id))
                    if generation is not None:
                        found.append(generation)
            except InfrastructureError:
                subscription.wake_for_resync()  # read again on the next round
                found = []
            for generation in found:
                if generation.version <= sent.get(generation.id, 0):
                    continue
                sent[generation.id] = generation.version
                if generation.is_deleted:
                    yield _deleted(generation.id, generation.version)
                elif _wanted(generation, action, status):
                    yield _message(generation, links)
                keepalive_at = time.monotonic() + live.keepalive
            if len(sent) > MAX_REMEMBERED:
                for key in list(sent)[: MAX_REMEMBERED // 2]:
                    del sent[key]
            if time.monotonic() >= keepalive_at:
                yield KEEPALIVE
                keepalive_at = time.monotonic() + live.keepalive
    finally:
        subscription.close()


class LiveController(Controller):
    path = "/api/generations"
    tags = ["generations"]
    dependencies = CALLER
    security = SECURITY

    @get(
        "/events",
        summary="Every change of the caller's generations, as Server-Sent Events",
        description="`event: generation` with the generation's JSON for each change, "
        "`event: deleted` for a deletion, `event: overflow` before closing a stream that "
        "fell too far behind; a `: keep-alive` comment on silence. Open until the client "
        "leaves; at most BASE_LIVE_STREAMS_PER_USER streams per user (429 beyond).",
        responses=problem_responses(400, 401, 429, 503),
        media_type=EVENT_STREAM,
    )
    async def all_events(
        self,
        caller: CallerDep,
        services: ServicesDep,
        key_links: KeyLinksDep,
        action: FromQuery[Action | None] = None,
        status: FromQuery[Status | None] = None,
    ) -> ServerSentEvent:
        live = _hub(services)
        subscription = live.open(caller.user_id)
        return ServerSentEvent(
            _follow_user(live, services.studio, subscription, action, status, key_links),
            headers=SSE_HEADERS,
        )

    @get(
        "/{generation_id:str}/events",
        summary="One generation's states as Server-Sent Events, until it ends",
        description="First the generation as `GET /api/generations/{id}` returns it, then "
        "its state after each change (`event: generation`, `id:` its version); the stream "
        "ends after the terminal state, or with `event: deleted`. `Last-Event-ID` resumes.",
        responses=problem_responses(400, 401, 404, 429, 503),
        media_type=EVENT_STREAM,
    )
    async def generation_events(
        self,
        generation_id: FromPath[str],
        caller: CallerDep,
        services: ServicesDep,
        key_links: KeyLinksDep,
        last_event_id: Annotated[
            str | None, HeaderParameter(name="Last-Event-ID", required=False, max_length=32)
        ] = None,
    ) -> ServerSentEvent:
        live = _hub(services)
        generation_id = path_id("generation", generation_id)
        subscription = live.open(caller.user_id, generation_id)
        try:
            generation = await services.studio.find_generation(caller.user_id, generation_id)
            if generation is None or generation.is_deleted:
                raise NotFound("generation", generation_id)
        except BaseException:
            subscription.close()
            raise
        return ServerSentEvent(
            _follow_one(
                live, services.studio, subscription, generation, _resume_after(last_event_id), key_links
            ),
            headers=SSE_HEADERS,
        )
