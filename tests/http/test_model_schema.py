"""The models list's public JSON: the seed's camelCase names, and nothing internal."""

from __future__ import annotations

import msgspec

from base_core.seed_models import FLUX_SCHNELL, NANO_BANANA_EDIT
from entrypoints.http.schemas import model_out


def test_public_shape_uses_the_seed_field_names() -> None:
    public = msgspec.to_builtins(model_out(FLUX_SCHNELL))
    assert set(public) == {
        "id", "name", "displayName", "replicateModel", "action", "runs", "description", "settings", "price"
    }
    assert public["settings"][0] == {
        "name": "prompt", "label": "Prompt", "type": "textarea", "required": True, "max": 4000
    }


def test_how_replicate_is_called_stays_private() -> None:
    body = msgspec.json.encode(model_out(NANO_BANANA_EDIT)).decode()
    assert "image_input" not in body and "inputKey" not in body and "asList" not in body


def test_integer_limits_are_written_as_integers() -> None:
    assert b'"min":1,"max":4}' in msgspec.json.encode(model_out(FLUX_SCHNELL))
