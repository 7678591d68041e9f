"""Over real HTTP: a retried create charges once, and one user cannot hog the service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from durability_helpers import (
    FLUX,
    INITIAL,
    Service,
    assert_books_balance,
    client,
    free_port,
    response_headers,
    service_env,
)

pytestmark = pytest.mark.slow

CAP = 2


@pytest.fixture(scope="module")
def capped_service(simulator, tmp_path_factory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("capped")
    env = service_env(
        simulator, f"sqlite+aiosqlite:///{workdir / 'base.db'}", BASE_MAX_IN_FLIGHT_PER_USER=str(CAP),
    )
    service = Service(env, workdir, free_port()).start()
    try:
        yield service
    finally:
        assert service.stop() == 0, service.logs()


def test_retries_with_one_idempotency_key_make_one_generation_and_one_charge(simulator, sessions, capped_service):
    user_id = str(uuid.uuid4())
    user = client(capped_service, sessions, user_id)
    key = f"retry-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: user.create(FLUX, **{"Idempotency-Key": key}), range(6)))
    assert {status for status, _ in answers} == {201}, answers
    assert len({body["id"] for _, body in answers}) == 1
    generation_id = answers[0][1]["id"]

    different = {**FLUX, "prompt": "something else entirely"}
    status, problem = user.create(different, **{"Idempotency-Key": key})
    assert status == 409, problem

    user.wait_terminal([generation_id], timeout=30)
    status, again = user.create(FLUX, **{"Idempotency-Key": key})  # a late retry
    assert (status, again["id"]) == (201, generation_id)
    assert user.credits() == INITIAL - 1
    assert_books_balance(capped_service.env["BASE_DATABASE_URL"], [user_id], INITIAL)


def test_a_user_at_the_in_flight_cap_gets_429_with_retry_after_and_others_are_served(
    simulator, sessions, capped_service
):
    simulator.settings.processing_delay = 5.0
    greedy = client(capped_service, sessions, str(uuid.uuid4()))
    started = []
    for _ in range(CAP):
        status, body = greedy.create()
        assert status == 201, body
        started.append(body["id"])
    status, headers = response_headers("POST", f"{capped_service.url}/api/generations/create", FLUX, greedy.token)
    assert status == 429 and int(headers["retry-after"]) >= 1, headers
    assert headers["content-type"].startswith("application/problem+json")
    assert greedy.credits() == INITIAL - CAP  # the refused one held nothing

    other = client(capped_service, sessions, str(uuid.uuid4()))
    status, body = other.create()
    assert status == 201, body
    simulator.settings.processing_delay = 0.6
    greedy.wait_terminal(started, timeout=30)
    status, body = greedy.create()
    assert status == 201, body
