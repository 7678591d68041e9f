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

A change is read once per process, not once per stream: every stream following the
generation sends what one read found, encoded once (entrypoints/live/reads.py), and only
to streams of the generation's owner. When streams must poll (SQLite, or the feed away),
the streams of one generation share one read per poll interval too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery, HeaderParameter
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
from entrypoints.http.event_stream import EVENT_STREAM, EventStream, comment, event
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import KeyLinks, generation_out
from entrypoints.live import CachedView, LiveHub, Seen, Subscription

EVENT = "generation"
DELETED = "deleted"
OVERFLOW = "overflow"
CLOSING = "closing"
KEEPALIVE = comment("keep-alive")
# How long a completed stream waits for its outputs to be copied before it ends anyway.
OUTPUT_GRACE = 30.0
# How far back a gallery stream reads when it must read (clock skew between processes).
SKEW = timedelta(seconds=2)
LOOKBACK = timedelta(seconds=30)
CHANGED_PAGE = 500
MAX_REMEMBERED = 10_000


def generation_json(generation: Generation, links: KeyLinks) -> bytes:
    """The generation's JSON exactly as `GET /api/generations/{id}` writes it."""
    return encode_json(generation_out(generation, links))


def links_base(services: Services, request: Request[Any, Any, Any]) -> str | None:
    """What the stored copies' URLs in an answer depend on, for reusing an encoded answer:
    the address the request came to, or None when the URLs are signed for a limited time
    (then an answer is never reused)."""
    presigned = services.links is not None and services.links.presign_seconds is not None
    return None if presigned else str(request.base_url)


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


def _message(generation: Generation, links: KeyLinks) -> bytes:
    return event(EVENT, generation_json(generation, links), generation.version)


def _deleted(generation_id: str, version: int) -> bytes:
    return event(DELETED, encode_json({"id": generation_id, "deleted": True}), version)


def _overflow(limit: int) -> bytes:
    detail = (
        f"more than {limit} changed generations were waiting for this stream; it is closed. "
        "Open it again and read the list for what changed meanwhile."
    )
    return event(OVERFLOW, encode_json({"detail": detail}))


def _closing() -> bytes:
    detail = "this server is stopping; open the stream again (another process will answer)"
    return event(CLOSING, encode_json({"detail": detail}))


def _resume_after(raw: str | None) -> int:
    """The version named by Last-Event-ID; anything else resumes from nothing."""
    if raw is None or not raw.strip().isdigit() or len(raw.strip()) > 18:
        return 0
    return int(raw.strip())


def _hub(services: Services) -> LiveHub:
    if services.live is None:
        raise InfrastructureError("live status is not running in this process")
    return services.live


def _poll_age(live: LiveHub) -> float | None:
    """How old a shared read may be for a stream that must poll (None: not polling)."""
    return live.poll_interval if live.must_poll else None


async def _follow_one(
    live: LiveHub, studio: Studio, subscription: Subscription, first: Seen, sent: int,
    links: KeyLinks, base: str | None,
) -> AsyncIterator[bytes]:
    # Reads go through the hub's shared reads: a database read by the stream's own user
    # (a shared read outlives a stream that leaves in the middle of it).
    user_id, generation_id = subscription.user_id, subscription.generation_id
    assert generation_id is not None
    seen = first
    poll_at = time.monotonic() + live.poll_interval
    ended_at: float | None = None
    retry = False
    subscription.wrote()  # the head: keep-alives are due from now, even with nothing to send
    try:
        while True:
            generation = seen.generation
            if generation is None or generation.is_deleted:
                version = generation.version if generation is not None else sent + 1
                yield _deleted(generation_id, max(version, sent + 1))
                return
            if generation.version > sent:
                sent = generation.version
                yield seen.event(base, _message, links)
                subscription.wrote()
            now = time.monotonic()
            if generation.is_terminal:
                ended_at = ended_at or now
                if not generation.needs_output_copy or now - ended_at >= OUTPUT_GRACE:
                    # One turn of the loop first: the other streams woken by this change
                    # write their event before any stream spends time on ending.
                    await asyncio.sleep(0)
                    return
            deadline: float | None = poll_at if live.must_poll or retry else None
            if ended_at is not None:
                grace_ends = ended_at + OUTPUT_GRACE
                deadline = grace_ends if deadline is None else min(deadline, grace_ends)
            await subscription.wait(None if deadline is None else max(deadline - time.monotonic(), 0.0))
            if subscription.closed:  # the client left
                return
            if subscription.stopping:
                yield _closing()
                return
            heard = bool(subscription.take())
            resync = subscription.take_resync()
            now = time.monotonic()
            poll_due = (live.must_poll or retry) and now >= poll_at
            if heard or resync or poll_due or ended_at is not None:
                poll_at = now + live.poll_interval
                try:
                    max_age = None if heard or resync else _poll_age(live)
                    seen = await live.reads.latest(user_id, generation_id, studio.find_generation, max_age)
                    retry = False
                except InfrastructureError:  # the database is away: read again shortly
                    retry = True
            if subscription.keepalive_due:
                yield KEEPALIVE
                subscription.wrote()
    finally:
        subscription.close()


def _wanted(generation: Generation, action: Action | None, status: Status | None) -> bool:
    return (action is None or generation.action is action) and (
        status is None or generation.status is status
    )


async def _changed_since(studio: Studio, user_id: str, since: datetime) -> list[Generation]:
    """What changed since `since`, in pages, oldest first."""
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
    base: str | None,
) -> AsyncIterator[bytes]:
    user_id = subscription.user_id
    clock = studio.context.clock
    cursor = clock.now() - SKEW
    sent: dict[str, int] = {}
    poll_at = time.monotonic() + live.poll_interval
    try:
        # A comment first, so the client knows the stream is open (there is no state to send).
        yield KEEPALIVE
        subscription.wrote()
        while True:
            polling = live.must_poll
            await subscription.wait(max(poll_at - time.monotonic(), 0.0) if polling else None)
            if subscription.closed:  # the client left
                return
            if subscription.stopping:
                yield _closing()
                return
            if subscription.overflowed:
                yield _overflow(live.queue_size)
                return
            heard = subscription.take()
            resync = subscription.take_resync()
            found: list[Seen] = []
            try:
                if resync or (live.must_poll and time.monotonic() >= poll_at):
                    poll_at = time.monotonic() + live.poll_interval
                    # After the feed came back, only a read that began since then will do.
                    max_age = min(live.poll_interval, time.monotonic() - live.connection_changed_at)
                    started, changed = await live.reads.changed_since(
                        user_id, cursor, partial(_changed_since, studio), clock.now, max_age, SKEW
                    )
                    found = [Seen(g) for g in changed]
                    cursor = started - SKEW
                elif not live.must_poll:
                    cursor = max(cursor, clock.now() - LOOKBACK)
                for generation_id, version in heard.items():
                    if version <= sent.get(generation_id, 0):
                        continue
                    seen = await live.reads.latest(user_id, generation_id, studio.find_generation)
                    if seen.generation is not None:
                        found.append(seen)
            except InfrastructureError:
                subscription.wake_for_resync()  # read again on the next round
                found = []
            for seen in found:
                generation = seen.generation
                assert generation is not None
                if generation.version <= sent.get(generation.id, 0):
                    continue
                sent[generation.id] = generation.version
                if generation.is_deleted:
                    yield _deleted(generation.id, generation.version)
                elif _wanted(generation, action, status):
                    yield seen.event(base, _message, links)
                subscription.wrote()
            if len(sent) > MAX_REMEMBERED:
                for key in list(sent)[: MAX_REMEMBERED // 2]:
                    del sent[key]
            if subscription.keepalive_due:
                yield KEEPALIVE
                subscription.wrote()
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
        request: Request[Any, Any, Any],
        action: FromQuery[Action | None] = None,
        status: FromQuery[Status | None] = None,
    ) -> EventStream:
        live = _hub(services)
        subscription = live.open(caller.user_id)
        base = links_base(services, request)
        return EventStream(
            _follow_user(live, services.studio, subscription, action, status, key_links, base),
            subscription.hang_up,
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
        request: Request[Any, Any, Any],
        last_event_id: Annotated[
            str | None, HeaderParameter(name="Last-Event-ID", required=False, max_length=32)
        ] = None,
    ) -> EventStream:
        live = _hub(services)
        generation_id = path_id("generation", generation_id)
        subscription = live.open(caller.user_id, generation_id)
        try:
            first = await live.reads.latest(
                caller.user_id, generation_id, services.studio.find_generation, _poll_age(live)
            )
            if first.generation is None or first.generation.is_deleted:
                raise NotFound("generation", generation_id)
        except BaseException:
            subscription.close()
            raise
        base = links_base(services, request)
        return EventStream(
            _follow_one(
                live, services.studio, subscription, first, _resume_after(last_event_id),
                key_links, base,
            ),
            subscription.hang_up,
        )
