"""The live event streams over a real `base serve` (SQLite, polling Replicate): one
generation's states until it ends, resuming, 404 before streaming, deletion mid-stream,
the gallery stream with its filters, keep-alive comments, the per-user cap and a client
leaving. The same server's polls answer what the streams say."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator

import attrs
import httpx
import pytest
from e2e_helpers import call

from adapters.auth import SessionTokens
from live_server import serving
from replicate_simulator import Simulator, SimulatorConfig
from sse_client import EventStream

pytestmark = pytest.mark.slow

BODY = {"action": "create", "model_id": "flux-schnell", "prompt": "a lighthouse at dusk",
        "settings": {"num_outputs": 1}}
TERMINAL = ("completed", "failed", "canceled")


@attrs.frozen
class Live:
    url: str
    simulator_url: str
    sessions: SessionTokens

    def token(self, user_id: str | None = None) -> str:
        return self.sessions.issue(user_id or str(uuid.uuid4()))

    def stream(self, path: str, token: str, **headers: str) -> EventStream:
        return EventStream(f"{self.url}{path}", token, headers)

    def delays(self, starting: float, processing: float) -> None:
        httpx.patch(f"{self.simulator_url}/_sim/settings",
                    json={"starting_delay": starting, "processing_delay": processing}).raise_for_status()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("live")
    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.3, processing_delay=0.6))
    secret = secrets.token_urlsafe(48)
    with simulator.running_in_thread() as running:
        env = {
            "BASE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'live.db'}",
            "BASE_REPLICATE_TOKENS": "r8_live_first_token_0001",
            "BASE_REPLICATE_BASE_URL": running.base_url,
            "BASE_SESSION_SECRET": secret,
            "BASE_ALLOW_PRIVATE_IMAGE_URLS": "true",
            "BASE_RECONCILE_AFTER_SECONDS": "2",
            "BASE_LIVE_STREAMS_PER_USER": "2",
            "BASE_LIVE_KEEPALIVE_SECONDS": "0.3",
            "BASE_LIVE_POLL_SECONDS": "0.2",
            "BASE_OUTPUT_DIR": str(workdir / "outputs"),
        }
        with serving(workdir, env) as (url, _log):  # stopped, and its exit checked, afterwards
            yield Live(url, running.base_url, SessionTokens(secret))


def create(live: Live, token: str) -> str:
    status, created = call("POST", f"{live.url}/api/generations/create", BODY, token)
    assert status == 201, created
    return created["id"]


def wait_terminal(live: Live, token: str, generation_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, generation = call("GET", f"{live.url}/api/generations/{generation_id}", token=token)
        assert status == 200, generation
        if generation["status"] in TERMINAL and generation["output_urls"] and "/outputs/" in generation["output_urls"][0]:
            return generation
        time.sleep(0.1)
    raise AssertionError("the generation did not finish")


def test_one_generation_streams_its_states_until_it_ends(live):
    live.delays(0.3, 0.6)
    token = live.token()
    generation_id = create(live, token)
    with live.stream(f"/api/generations/{generation_id}/events", token) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"  # nor buffered by a proxy
        assert stream.headers["x-accel-buffering"] == "no" and "x-request-id" in stream.headers
        first = stream.next()
        events = [first, *stream.until_end()]
    status, polled = call("GET", f"{live.url}/api/generations/{generation_id}", token=token)
    assert status == 200
    assert {e.kind for e in events} == {"generation"}
    versions = [int(e.id) for e in events]
    assert versions == sorted(set(versions)) and versions[0] >= 1
    states = [e.json() for e in events]
    assert states[0]["id"] == generation_id and states[0]["status"] in ("pending", "processing")
    assert states[-1]["status"] == "completed"
    # The last event is the generation exactly as the poll returns it (outputs copied).
    assert states[-1] == polled and "/outputs/" in polled["output_urls"][0]


def test_the_first_event_is_the_poll_answer_and_last_event_id_resumes(live):
    token = live.token()
    generation_id = create(live, token)
    done = wait_terminal(live, token, generation_id)
    with live.stream(f"/api/generations/{generation_id}/events", token) as stream:
        events = stream.until_end()
    assert len(events) == 1 and events[0].json() == done
    version = events[0].id
    # The client has that version: nothing is repeated, the stream simply ends.
    with live.stream(f"/api/generations/{generation_id}/events", token, **{"Last-Event-ID": version}) as again:
        assert again.status == 200 and again.until_end() == []
    # An older version: the current state is sent once.
    with live.stream(f"/api/generations/{generation_id}/events", token, **{"Last-Event-ID": "1"}) as older:
        assert [e.json() for e in older.until_end()] == [done]


def test_unknown_another_users_and_deleted_generations_are_404_before_streaming(live):
    owner, other = live.token(), live.token()
    generation_id = create(live, owner)
    for token, path in ((owner, "/api/generations/nope/events"),
                        (other, f"/api/generations/{generation_id}/events")):
        with live.stream(path, token) as stream:
            assert stream.status == 404
            assert b"event:" not in stream.body
    wait_terminal(live, owner, generation_id)
    assert call("DELETE", f"{live.url}/api/generations/{generation_id}", token=owner)[0] == 200
    with live.stream(f"/api/generations/{generation_id}/events", owner) as stream:
        assert stream.status == 404
    with live.stream(f"/api/generations/{generation_id}/events", "not-a-token") as stream:
        assert stream.status == 401


def test_a_deletion_during_the_stream_ends_it_with_a_final_event(live):
    live.delays(0.2, 30.0)
    try:
        token = live.token()
        generation_id = create(live, token)
        with live.stream(f"/api/generations/{generation_id}/events", token) as stream:
            first = stream.next()
            assert first.kind == "generation" and first.json()["status"] not in TERMINAL
            assert call("DELETE", f"{live.url}/api/generations/{generation_id}", token=token)[0] == 200
            rest = stream.until_end()
        assert rest[-1].kind == "deleted"
        assert rest[-1].json() == {"id": generation_id, "deleted": True}
        assert int(rest[-1].id) > int(first.id)
        assert call("GET", f"{live.url}/api/generations/{generation_id}", token=token)[0] == 404
    finally:
        live.delays(0.3, 0.6)


def test_the_gallery_stream_tells_every_change_of_the_callers_generations_only(live):
    user, stranger = live.token(), live.token()
    with live.stream("/api/generations/events", user) as gallery, \
         live.stream("/api/generations/events?status=completed", user) as completed_only:
        assert gallery.next(comments=True).kind == "comment"  # open
        assert completed_only.next(comments=True).kind == "comment"
        theirs = create(live, stranger)
        mine = create(live, user)
        wait_terminal(live, user, mine)
        seen: list = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            e.json()["status"] == "completed" and "/outputs/" in e.json()["output_urls"][0] for e in seen
        ):
            seen.append(gallery.next())
        assert seen and {e.json()["id"] for e in seen} == {mine}
        assert {e.kind for e in seen} == {"generation"}
        filtered = completed_only.next()
        assert filtered.json()["id"] == mine and filtered.json()["status"] == "completed"
        assert call("DELETE", f"{live.url}/api/generations/{mine}", token=user)[0] == 200
        deleted = gallery.next()
        while deleted.kind != "deleted":
            deleted = gallery.next()
        assert deleted.json() == {"id": mine, "deleted": True}
        assert theirs not in {e.json()["id"] for e in seen}
        assert not gallery.ended


def test_idle_streams_get_keep_alive_comments(live):
    token = live.token()
    with live.stream("/api/generations/events", token) as stream:
        comments = [stream.next(comments=True) for _ in range(3)]
    assert [c.kind for c in comments] == ["comment"] * 3
    assert comments[-1].data == "keep-alive"


def test_the_per_user_cap_is_429_and_a_client_leaving_frees_its_place_at_once(live):
    token = live.token()
    first = live.stream("/api/generations/events", token)
    second = live.stream("/api/generations/events", token)
    try:
        assert first.status == second.status == 200
        with live.stream("/api/generations/events", token) as third:
            assert third.status == 429
            assert third.headers.get("retry-after")
        # Another user is not held back by this one.
        with live.stream("/api/generations/events", live.token()) as theirs:
            assert theirs.status == 200
        first.close()
        deadline = time.monotonic() + 5
        status = 429
        while status == 429 and time.monotonic() < deadline:
            with live.stream("/api/generations/events", token) as retry:
                status = retry.status
        assert status == 200
    finally:
        first.close()
        second.close()
