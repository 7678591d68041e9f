"""Replicate's webhooks never arrive: the reconciler asks instead, and the money adds up."""

from __future__ import annotations

import uuid

import pytest
from durability_helpers import INITIAL, assert_books_balance, client

from replicate_simulator import Fault

pytestmark = pytest.mark.slow


def test_every_generation_ends_even_when_every_webhook_is_lost(simulator, sessions, webhook_service):
    # The first fault that matches shapes a prediction: two fail at Replicate (their refund
    # must come through the reconciler as well), then every other one just loses its webhooks.
    simulator.faults.add(Fault(webhook="lost", outcome="failed", error="the model crashed", times=2))
    simulator.faults.add(Fault(webhook="lost"))
    users = [str(uuid.uuid4()) for _ in range(3)]
    created: dict[str, list[str]] = {}
    for user_id in users:
        user = client(webhook_service, sessions, user_id)
        created[user_id] = []
        for _ in range(3):
            status, body = user.create()
            assert status == 201, body
            created[user_id].append(body["id"])

    outcomes = {}
    for user_id in users:
        outcomes.update(client(webhook_service, sessions, user_id).wait_terminal(created[user_id], timeout=60))
    assert sorted(g["status"] for g in outcomes.values()).count("failed") == 2
    assert all(g["status"] in ("completed", "failed") for g in outcomes.values())

    sent = [w for gid in outcomes for w in simulator.webhook_attempts(outcomes[gid]["prediction_id"])]
    assert sent == []  # nothing was delivered: the reconciler did it all
    books = assert_books_balance(webhook_service.env["BASE_DATABASE_URL"], users, INITIAL)
    completed = {gid for gid, g in outcomes.items() if g["status"] == "completed"}
    for user_id in users:
        mine = [gid for gid in created[user_id] if gid in completed]
        assert books[user_id].balance == INITIAL - len(mine)
