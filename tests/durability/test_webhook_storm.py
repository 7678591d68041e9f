"""Duplicated and out-of-order webhooks for many generations at once: one resolution each."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from durability_helpers import INITIAL, assert_books_balance, client

from replicate_simulator import Fault

pytestmark = pytest.mark.slow

GENERATIONS = 24


def test_a_storm_of_duplicate_and_late_webhooks_resolves_each_hold_exactly_once(
    simulator, sessions, webhook_service
):
    # The first matching fault shapes a prediction: a quarter fail (late webhooks too), half
    # the rest get every webhook twice, the others their `processing` after the final one.
    simulator.faults.add(Fault(webhook="out_of_order", outcome="failed", times=GENERATIONS // 4))
    simulator.faults.add(Fault(webhook="duplicate", times=GENERATIONS // 2))
    simulator.faults.add(Fault(webhook="out_of_order"))
    users = [str(uuid.uuid4()) for _ in range(4)]
    clients = {user_id: client(webhook_service, sessions, user_id) for user_id in users}
    jobs = [users[i % len(users)] for i in range(GENERATIONS)]

    def create(user_id: str) -> tuple[str, str]:
        status, body = clients[user_id].create()
        assert status == 201, body
        return user_id, body["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(create, jobs))

    outcomes = {}
    for user_id in users:
        mine = [gid for owner, gid in made if owner == user_id]
        outcomes.update(clients[user_id].wait_terminal(mine, timeout=90))
    statuses = [g["status"] for g in outcomes.values()]
    assert statuses.count("failed") == GENERATIONS // 4
    assert statuses.count("completed") == GENERATIONS - GENERATIONS // 4

    # The duplicates really were delivered (and answered), not dropped on the way.
    delivered = [
        w for g in outcomes.values() for w in simulator.webhook_attempts(g["prediction_id"])
        if w.response_status == 200
    ]
    assert len(delivered) > GENERATIONS

    books = assert_books_balance(webhook_service.env["BASE_DATABASE_URL"], users, INITIAL)
    for user_id in users:
        completed = [gid for owner, gid in made if owner == user_id and outcomes[gid]["status"] == "completed"]
        assert books[user_id].balance == INITIAL - len(completed)
