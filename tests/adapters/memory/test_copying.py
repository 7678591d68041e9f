"""The memory store's copies: equal to the original, sharing nothing a caller could change."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from adapters.memory.copying import clone
from base_core.registry import Action
from base_core.generation import Generation, PredictionUpdate, Status
from base_core.ledger import EntryKind, LedgerEntry
from base_core.tokens import ReplicateToken

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _generation() -> Generation:
    return Generation(
        id="g1",
        user_id="u1",
        action=Action.CREATE,
        model_id="flux-schnell",
        model_name="flux-schnell",
        prompt="a fox",
        input_image_url=None,
        settings={"num_outputs": 2, "nested": {"a": [1, 2]}},
        replicate_input={"prompt": "a fox", "image_input": ["https://example.com/a.png"]},
        cost=2,
        created_at=NOW,
        updated_at=NOW,
        output_urls=["https://example.com/out.webp"],
    )


def test_a_mutable_object_is_copied_with_its_containers() -> None:
    original = _generation()
    copy = clone(original)
    assert copy == original and copy is not original
    assert copy.settings is not original.settings
    assert copy.settings["nested"] is not original.settings["nested"]
    assert copy.settings["nested"]["a"] is not original.settings["nested"]["a"]
    assert copy.replicate_input["image_input"] is not original.replicate_input["image_input"]
    assert copy.output_urls is not original.output_urls

    copy.settings["nested"]["a"].append(3)
    copy.output_urls.append("https://example.com/other.webp")
    copy.status = Status.COMPLETED
    assert original == _generation()


def test_every_field_is_carried_over() -> None:
    original = ReplicateToken(
        id="t1", label="main", secret="r8_x", created_at=NOW, request_count=7,
        error_count=2, last_used_at=NOW, consecutive_failures=1, disabled_reason="why",
    )
    copy = clone(original)
    assert attrs.asdict(copy) == attrs.asdict(original)
    copy.record_request(NOW)
    assert original.request_count == 7


def test_a_frozen_object_of_immutable_fields_is_shared() -> None:
    entry = LedgerEntry(key="hold:g1", user_id="u1", kind=EntryKind.HOLD, amount=-2, created_at=NOW)
    update = PredictionUpdate(prediction_id="p1", status="succeeded", output=("https://a/1.png",))
    assert clone(entry) is entry
    assert clone(update) is update


def test_a_frozen_object_holding_a_mutable_value_is_copied() -> None:
    update = PredictionUpdate(prediction_id="p1", status="succeeded", output=["https://a/1.png"])  # type: ignore[arg-type]
    copy = clone(update)
    assert copy == update and copy is not update
    assert copy.output is not update.output
