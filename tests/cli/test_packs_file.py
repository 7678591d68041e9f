"""BASE_CREDIT_PACKS_FILE: JSON or TOML on disk replacing the built-in packs; every problem
in it named at start-up; and which payment settings turn which provider on."""

from __future__ import annotations

import json

import pytest

from base_core.errors import InvalidRegistry
from base_core.packs import BUILTIN_PACKS, PackCatalogue
from entrypoints.bootstrap import load_packs
from entrypoints.settings import Settings, SettingsError

PACKS_TOML = """
[[packs]]
id = "tiny"
title = "10 credits"
credits = 10
stars = 5

[[packs]]
id = "big"
title = "1000 credits"
credits = 1000
amount = 999
currency = "EUR"
"""


def _load(tmp_path, name: str, text: str) -> PackCatalogue:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_packs(Settings.from_env({"BASE_CREDIT_PACKS_FILE": str(path)}))


def test_the_built_in_packs_without_a_file() -> None:
    assert list(load_packs(Settings.from_env({}))) == list(BUILTIN_PACKS)


def test_json_and_toml_files_read_the_same(tmp_path) -> None:
    from_toml = list(_load(tmp_path, "packs.toml", PACKS_TOML))
    data = {"packs": [{"id": "tiny", "title": "10 credits", "credits": 10, "stars": 5},
                      {"id": "big", "title": "1000 credits", "credits": 1000, "amount": 999, "currency": "EUR"}]}
    assert list(_load(tmp_path, "packs.json", json.dumps(data))) == from_toml
    assert from_toml[1].currency == "eur" and from_toml[0].amount is None


@pytest.mark.parametrize(("pack", "problem"), [
    ({"id": "a", "title": "x", "credits": 0, "stars": 1}, "packs[0].credits: expected a whole number"),
    ({"id": "a", "title": "x", "credits": True, "stars": 1}, "packs[0].credits"),
    ({"id": "A B", "title": "x", "credits": 1, "stars": 1}, "packs[0].id"),
    ({"id": "a", "title": "x" * 33, "credits": 1, "stars": 1}, "packs[0].title"),
    ({"id": "a", "title": "x", "credits": 1}, "packs[0]: a pack needs a price"),
    ({"id": "a", "title": "x", "credits": 1, "amount": 5}, "packs[0]: amount and currency go together"),
    ({"id": "a", "title": "x", "credits": 1, "stars": 1.5}, "packs[0].stars"),
    ({"id": "a", "title": "x", "credits": 1, "stars": 1, "colour": "red"}, "packs[0].colour: unknown key"),
    ({"id": "a", "title": "x", "credits": 1, "amount": 5, "currency": "dollars"}, "packs[0].currency"),
])
def test_every_bad_path_is_named(pack: dict, problem: str) -> None:
    with pytest.raises(InvalidRegistry) as raised:
        PackCatalogue.from_data({"packs": [pack]})
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems


def test_a_pack_id_used_twice_and_an_empty_list_are_refused() -> None:
    pack = {"id": "a", "title": "x", "credits": 1, "stars": 1}
    with pytest.raises(InvalidRegistry, match="used twice"):
        PackCatalogue.from_data({"packs": [pack, pack]})
    with pytest.raises(InvalidRegistry, match="non-empty"):
        PackCatalogue.from_data({"packs": []})


def test_a_bad_file_stops_start_up_naming_the_variable(tmp_path) -> None:
    with pytest.raises(SettingsError, match="BASE_CREDIT_PACKS_FILE: packs.0..credits"):
        _load(tmp_path, "packs.json", '{"packs": [{"id": "a", "title": "x", "credits": -1, "stars": 1}]}')
    with pytest.raises(SettingsError, match="not valid TOML"):
        _load(tmp_path, "packs.toml", "[[packs]\n")
    with pytest.raises(SettingsError, match="BASE_CREDIT_PACKS_FILE"):
        Settings.from_env({"BASE_CREDIT_PACKS_FILE": str(tmp_path / "missing.json")})
    bad = tmp_path / "bad.json"
    bad.write_text('{"packs": 3}')
    from entrypoints.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BASE_CREDIT_PACKS_FILE", str(bad))
        assert main(["serve", "--port", "1"]) == 2


def test_which_settings_turn_each_provider_on() -> None:
    assert not Settings.from_env({"BASE_TELEGRAM_BOT_TOKEN": "1:x"}).sells_with_telegram
    assert Settings.from_env({"BASE_TELEGRAM_BOT_TOKEN": "1:x", "BASE_TELEGRAM_WEBHOOK_SECRET": "s"}).sells_with_telegram
    assert not Settings.from_env({"BASE_STRIPE_SECRET_KEY": "sk_x"}).sells_with_stripe
    both = {"BASE_STRIPE_SECRET_KEY": "sk_x", "BASE_STRIPE_WEBHOOK_SECRET": "whsec_x"}
    assert Settings.from_env(both).sells_with_stripe
    with pytest.raises(SettingsError, match="BASE_TELEGRAM_WEBHOOK_SECRET"):
        Settings.from_env({"BASE_TELEGRAM_WEBHOOK_SECRET": "has spaces"})
    shown = repr(Settings.from_env({**both, "BASE_TELEGRAM_WEBHOOK_SECRET": "secret-value"}))
    assert "sk_x" not in shown and "whsec_x" not in shown and "secret-value" not in shown
