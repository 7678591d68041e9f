"""A create request's fingerprint (what an idempotent replay is compared with) is the
SHA-256 of its canonical JSON: the same text `json.dumps(sort_keys=True,
separators=(",", ":"), default=str)` writes, so fingerprints stored by earlier versions
still match."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from base_core.registry import GenerationRequest
from base_core.usecases.generations import _canonical, _fingerprint

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@settings(max_examples=200)
@given(st.dictionaries(st.text(), JSON))
def test_the_canonical_text_is_json_dumps_sorted_and_compact(value: dict[str, Any]) -> None:
    assert _canonical(value) == _dumps(value)


@given(st.text() | st.none(), st.dictionaries(st.text(), JSON))
def test_the_fingerprint_is_the_sha256_of_the_canonical_request(
    prompt: str | None, given_settings: dict[str, Any]
) -> None:
    request = GenerationRequest("create", "flux-schnell", prompt=prompt, settings=given_settings)
    canonical = {
        "action": "create", "model_id": "flux-schnell", "prompt": prompt,
        "input_image_url": None, "settings": given_settings,
    }
    assert _fingerprint(request) == hashlib.sha256(_dumps(canonical).encode()).hexdigest()


def test_values_json_cannot_write_are_written_as_their_str() -> None:
    assert _canonical({"when": object}) == _dumps({"when": object})
