"""Results outlive Replicate's retention: copies are served after the originals are gone."""

from __future__ import annotations

import uuid

import pytest
from durability_helpers import client, fetch, stored_generation, wait_for

pytestmark = pytest.mark.slow


def test_outputs_are_still_served_after_replicate_deleted_them(simulator, sessions, webhook_service):
    simulator.settings.retention = 1.0
    user = client(webhook_service, sessions, str(uuid.uuid4()))
    status, body = user.create(
        {"action": "create", "model_id": "flux-schnell", "prompt": "two moons", "settings": {"num_outputs": 2}}
    )
    assert status == 201, body

    def kept() -> dict | None:
        generation = user.get(body["id"])
        stored = generation["output_urls"] or []
        return generation if stored and all(u.startswith(webhook_service.url + "/outputs/") for u in stored) else None

    generation = wait_for(kept, 30, "the outputs to be copied")
    assert len(generation["output_urls"]) == 2
    prediction = wait_for(
        lambda: (p := simulator.prediction(body["prediction_id"])) and p["data_removed"] and p,
        30, "the simulator to delete the prediction's data",
    )
    assert prediction["output"] is None

    for url in generation["output_urls"]:
        status, content = fetch(url)
        assert status == 200 and content[:4] == b"RIFF" and content[8:12] == b"WEBP", status
    # The copies are all there is now: Replicate's own files are gone, but still on record.
    stored = stored_generation(webhook_service.env["BASE_DATABASE_URL"], body["id"])
    assert len(stored.source_urls) == 2 and stored.source_urls != generation["output_urls"]
    for original in stored.source_urls:
        assert fetch(original)[0] in (404, 410)
    assert user.get(body["id"])["output_urls"] == generation["output_urls"]


def test_a_stored_output_cannot_be_reached_by_guessing(webhook_service):
    for path in (
        "/outputs/x/0.png",
        "/outputs/..%2F..%2Fetc/passwd",
        "/outputs/abc/0-" + "0" * 32 + ".png",
        "/outputs/abc/..%2Fbase.db",
    ):
        assert fetch(webhook_service.url + path)[0] == 404, path
