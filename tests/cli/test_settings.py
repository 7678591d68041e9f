"""Settings from BASE_* variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.settings import DEFAULT_DATABASE_URL, Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.replicate_base_url == "https://api.replicate.com"
    assert (settings.initial_credits, settings.max_in_flight_per_user) == (100, 8)
    assert settings.reconcile_after_seconds == 60.0
    assert settings.public_url is None and settings.webhook_url is None
    assert settings.output_dir == Path("./outputs")
    assert settings.allow_private_image_urls is False


def test_values_are_parsed():
    settings = Settings.from_env({
        "BASE_DATABASE_URL": "memory://",
        "BASE_REPLICATE_TOKENS": " r8_a , r8_b,,r8_a ",
        "BASE_PUBLIC_URL": "https://api.example.com/",
        "BASE_ADMIN_USER_IDS": "u1,u2",
        "BASE_INITIAL_CREDITS": "0",
        "BASE_RECONCILE_AFTER_SECONDS": "2.5",
        "BASE_ALLOW_PRIVATE_IMAGE_URLS": "yes",
        "BASE_REPLICATE_WEBHOOK_SECRET": "whsec_abc",
    })
    assert settings.is_memory
    assert settings.replicate_tokens == ("r8_a", "r8_b")
    assert settings.webhook_url == "https://api.example.com/api/webhook/replicate"
    assert settings.admin_user_ids == frozenset({"u1", "u2"})
    assert settings.initial_credits == 0 and settings.reconcile_after_seconds == 2.5
    assert settings.allow_private_image_urls is True


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({"BASE_REPLICATE_TOKENS": "r8_supersecret", "BASE_SESSION_SECRET": "z" * 40})
    assert "r8_supersecret" not in repr(settings) and "z" * 40 not in repr(settings)


@pytest.mark.parametrize(
    "name, value",
    [
        ("BASE_DATABASE_URL", "mysql://x"),
        ("BASE_PUBLIC_URL", "ftp://x"),
        ("BASE_INITIAL_CREDITS", "-1"),
        ("BASE_INITIAL_CREDITS", "ten"),
        ("BASE_MAX_IN_FLIGHT_PER_USER", "0"),
        ("BASE_RECONCILE_AFTER_SECONDS", "0"),
        ("BASE_RECONCILE_AFTER_SECONDS", "soon"),
        ("BASE_ALLOW_PRIVATE_IMAGE_URLS", "maybe"),
        ("BASE_SESSION_SECRET", "short"),
        ("BASE_REPLICATE_WEBHOOK_SECRET", "plain"),
        ("BASE_MODELS_FILE", "/no/such/file.json"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert error.value.variable == name and name in str(error.value)


def test_models_file_replaces_the_catalogue(tmp_path):
    from entrypoints.bootstrap import load_registry

    path = tmp_path / "models.json"
    path.write_text(
        '{"models": [{"id": "only", "displayName": "Only", "replicateModel": "a/b", '
        '"action": "create", "price": 3, "settings": [{"name": "prompt", "label": "P", '
        '"type": "textarea", "required": true}]}]}'
    )
    registry = load_registry(Settings.from_env({"BASE_MODELS_FILE": str(path)}))
    assert [m.id for m in registry] == ["only"]
    path.write_text('{"models": [{"id": "broken"}]}')
    with pytest.raises(SettingsError):
        load_registry(Settings.from_env({"BASE_MODELS_FILE": str(path)}))
