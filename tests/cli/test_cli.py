"""The `base` command in-process, on a SQLite file: help, models, tokens, credits, migrate."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from entrypoints.bootstrap import open_services
from entrypoints.cli import main
from entrypoints.settings import Settings

SECRET = "r8_cli_token_secret_value_ABCD"


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("BASE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BASE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "argv",
    [[], ["serve"], ["demo"], ["simulator"], ["migrate"], ["tokens"], ["tokens", "add"],
     ["tokens", "list"], ["tokens", "stats"], ["tokens", "enable"], ["tokens", "disable"],
     ["credits"], ["credits", "grant"], ["models"], ["models", "list"], ["outputs"], ["outputs", "migrate"]],
)
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: base" in capsys.readouterr().out


def test_models_list(env, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "flux-schnell" in out and "real-esrgan" in out


def test_migrate_then_tokens(env, capsys):
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["tokens", "add", SECRET, "--label", "main"]) == 0
    added = capsys.readouterr().out
    assert SECRET not in added and "main" in added
    token_id = added.split()[0]
    assert main(["tokens", "list"]) == 0
    listed = capsys.readouterr().out
    assert token_id in listed and "active" in listed and SECRET not in listed
    assert main(["tokens", "disable", token_id]) == 0
    assert "inactive" in capsys.readouterr().out
    assert main(["tokens", "enable", token_id]) == 0
    assert main(["tokens", "stats"]) == 0
    stats = capsys.readouterr().out
    assert "tokens 1 (active 1)" in stats and SECRET not in stats
    assert main(["tokens", "enable", "no-such-token"]) == 1


def test_credits_grant(env, capsys):
    user_id = str(uuid.uuid4())
    assert main(["credits", "grant", user_id, "5"]) == 1
    assert "not found" in capsys.readouterr().err

    async def create_user() -> None:
        async with open_services(Settings.from_env(), background=False) as services:
            await services.studio.ensure_user(user_id)

    asyncio.run(create_user())
    assert main(["credits", "grant", user_id, "50", "--reason", "promo"]) == 0
    assert f"{user_id}  credits 150" in capsys.readouterr().out
    assert main(["credits", "grant", user_id, "-20"]) == 0
    assert "credits 130" in capsys.readouterr().out


def test_bad_settings_exit_2_naming_the_variable(env, monkeypatch, capsys):
    monkeypatch.setenv("BASE_INITIAL_CREDITS", "lots")
    assert main(["tokens", "list"]) == 2
    assert "BASE_INITIAL_CREDITS" in capsys.readouterr().err


async def test_session_secret_is_generated_once_per_database(env, tmp_path):
    from adapters.sql import SqlDatabase
    from entrypoints.bootstrap import resolve_session_secret

    settings = Settings.from_env()

    async def secret_of(path):
        db = SqlDatabase.from_url(f"sqlite+aiosqlite:///{path}")
        try:
            await db.migrate()
            return await resolve_session_secret(settings, db.service_secret)
        finally:
            await db.dispose()

    first = await secret_of(tmp_path / "one.db")
    assert await secret_of(tmp_path / "one.db") == first
    assert await secret_of(tmp_path / "two.db") != first
    assert await resolve_session_secret(settings, None) != await resolve_session_secret(settings, None)