"""BASE_MODELS_FILE: JSON or TOML on disk; every problem in it is named at start-up."""

from __future__ import annotations

import pytest

from entrypoints.bootstrap import load_registry
from entrypoints.settings import Settings, SettingsError

MODEL_JSON = (
    '{"models": [{"id": "only", "displayName": "Only", "replicateModel": "a/b", "action": "create",'
    ' "price": 3, "settings": [{"name": "num_outputs", "type": "integer", "max": %s}]}]}'
)
MODEL_TOML = """
[[models]]
id = "only"
displayName = "Only"
replicateModel = "a/b"
action = "create"
price = 3

[[models.settings]]
name = "num_outputs"
type = "integer"
max = %s
"""


def _load(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_registry(Settings.from_env({"BASE_MODELS_FILE": str(path)}))


@pytest.mark.parametrize(("name", "text"), [("models.json", MODEL_JSON), ("models.toml", MODEL_TOML)])
def test_json_and_toml_files_read_the_same(tmp_path, name: str, text: str) -> None:
    registry = _load(tmp_path, name, text % "4")
    assert registry.get("only").setting("num_outputs").max == 4


@pytest.mark.parametrize(("name", "text"), [("models.json", MODEL_JSON), ("models.toml", MODEL_TOML)])
def test_a_bad_value_is_named_by_its_path(tmp_path, name: str, text: str) -> None:
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, name, text % '"4"')
    assert error.value.variable == "BASE_MODELS_FILE"
    assert str(error.value) == (
        "BASE_MODELS_FILE: models[0].settings.num_outputs.max: expected a number, got str"
    )


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("models.json", '{"models": [', "not valid JSON"),
        ("models.toml", "[[models]\nid = 1", "not valid TOML"),
        ("models.JSON", "[[models]]", "not valid JSON"),
    ],
)
def test_a_file_that_does_not_parse_says_so(tmp_path, name: str, text: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=f"BASE_MODELS_FILE: \\(file\\): {reason}"):
        _load(tmp_path, name, text)


def test_a_file_that_is_not_utf8_says_so(tmp_path) -> None:
    path = tmp_path / "models.json"
    path.write_bytes(b'{"models": "\xff"}')
    with pytest.raises(SettingsError, match=r"\(file\): cannot be read"):
        load_registry(Settings.from_env({"BASE_MODELS_FILE": str(path)}))
