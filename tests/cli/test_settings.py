"""Settings from BASE_* variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.bootstrap import studio_config
from entrypoints.settings import DEFAULT_DATABASE_URL, Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.replicate_base_url == "https://api.replicate.com"
    assert (settings.initial_credits, settings.max_in_flight_per_user) == (100, 8)
    assert settings.reconcile_after_seconds == 60.0
    assert settings.public_url is None and studio_config(settings).webhook is None
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
    webhook = studio_config(settings).webhook
    assert webhook is not None and webhook.url == "https://api.example.com/api/webhook/replicate"
    assert settings.admin_user_ids == frozenset({"u1", "u2"})
    assert settings.initial_credits == 0 and settings.reconcile_after_seconds == 2.5
    assert settings.allow_private_image_urls is True


def test_flags_read_the_usual_words_and_empty_values_are_unset():
    for word, meaning in [("on", True), ("YES", True), ("1", True), ("off", False), ("No", False), ("0", False)]:
        assert Settings.from_env({"BASE_ALLOW_PRIVATE_IMAGE_URLS": word}).allow_private_image_urls is meaning
    settings = Settings.from_env({"BASE_INITIAL_CREDITS": "  ", "BASE_PUBLIC_URL": ""})
    assert settings.initial_credits == 100 and settings.public_url is None


def test_a_models_file_must_be_json_or_toml(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("models: []")
    with pytest.raises(SettingsError, match="must be a .json or .toml file") as error:
        Settings.from_env({"BASE_MODELS_FILE": str(path)})
    assert error.value.variable == "BASE_MODELS_FILE"


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({"BASE_REPLICATE_TOKENS": "r8_supersecret", "BASE_SESSION_SECRET": "z" * 40})
    assert "r8_supersecret" not in repr(settings) and "z" * 40 not in repr(settings)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("BASE_DATABASE_URL", "mysql://x", "matching regex '^(memory://$|sqlite|postgresql)'"),
        ("BASE_PUBLIC_URL", "ftp://x", "matching regex '^https?://.+'"),
        ("BASE_PUBLIC_URL", "https://", "matching regex '^https?://.+'"),
        ("BASE_INITIAL_CREDITS", "-1", "expected `int` >= 0"),
        ("BASE_INITIAL_CREDITS", "ten", "expected `int`, got `str`"),
        ("BASE_MAX_IN_FLIGHT_PER_USER", "0", "expected `int` >= 1"),
        ("BASE_RECONCILE_AFTER_SECONDS", "0", "expected `float` > 0.0"),
        ("BASE_RECONCILE_AFTER_SECONDS", "nan", "expected `float` > 0.0"),
        ("BASE_PENDING_AFTER_SECONDS", "86400", "expected `float` < 86400.0"),
        ("BASE_RECONCILE_AFTER_SECONDS", "soon", "expected `float`, got `str`"),
        ("BASE_ALLOW_PRIVATE_IMAGE_URLS", "maybe", "expected `bool`, got `str`"),
        ("BASE_SESSION_SECRET", "short", "expected `str` of length >= 32"),
        ("BASE_REPLICATE_WEBHOOK_SECRET", "plain", "matching regex '^whsec_'"),
        ("BASE_MODELS_FILE", "/no/such/file.json", "/no/such/file.json is not a readable file"),
        ("BASE_OUTPUT_STORE", "gs://bucket", "matching regex"),
        ("BASE_OUTPUT_STORE", "s3://", "matching regex"),
        ("BASE_S3_ENDPOINT_URL", "r2.example", "matching regex '^https?://.+'"),
        ("BASE_OUTPUT_PRESIGN_SECONDS", "0", "expected `float` > 0.0"),
        ("BASE_MAX_UPLOAD_BYTES", "0", "expected `int` >= 1"),
    ],
)
def test_bad_values_name_the_variable(name, value, expected):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert error.value.variable == name and name in str(error.value)
    assert expected in str(error.value)


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


def test_the_output_store_defaults_to_the_output_directory_and_reads_s3_settings():
    assert Settings.from_env({}).output_store_url == "file://outputs"
    assert Settings.from_env({"BASE_OUTPUT_DIR": "/srv/out"}).output_store_url == "file:///srv/out"
    settings = Settings.from_env({
        "BASE_OUTPUT_STORE": "s3://studio/outputs", "BASE_S3_ENDPOINT_URL": "https://acc.r2.cloudflarestorage.com/",
        "BASE_S3_REGION": "auto", "BASE_MAX_UPLOAD_BYTES": "2048",
    })
    assert settings.output_store_url == "s3://studio/outputs"
    assert settings.s3_endpoint_url == "https://acc.r2.cloudflarestorage.com"
    assert (settings.s3_region, settings.max_upload_bytes) == ("auto", 2048)
