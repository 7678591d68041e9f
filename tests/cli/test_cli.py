"""The `base` command in-process, on a SQLite file: help, models, tokens, credits, migrate."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from alembic.script import ScriptDirectory

from adapters.sql.migrations import alembic_config
from entrypoints.bootstrap import open_services
from entrypoints.cli import main
from entrypoints.settings import Settings

SECRET = "r8_clitokensecretvalue00000000000000ABCD"

# The newest revision, so these tests need no update when a migration is added.
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


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
    assert f"migrated it to {HEAD}" in capsys.readouterr().out
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
    assert main(["migrate"]) == 0
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

def test_migrate_says_what_it_applied(env, capsys):
    from adapters.sql.migrations import upgrade

    path = env / "cli.db"
    assert main(["migrate"]) == 0
    assert f"created {path} and migrated it to {HEAD}" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert f"{path} is already at {HEAD}: nothing to apply" in capsys.readouterr().out
    older = env / "older.db"
    upgrade(f"sqlite+aiosqlite:///{older}", "0003_service_secrets")
    assert main(["migrate", "--database", str(older)]) == 0
    assert f"migrated {older} from 0003_service_secrets to {HEAD}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["tokens", "list"], ["tokens", "stats"], ["tokens", "enable", "x"], ["tokens", "disable", "x"],
     ["credits", "grant", "u", "5"], ["reconcile"]],
)
def test_a_command_on_a_missing_database_refuses_and_creates_nothing(env, argv, capsys):
    missing = env / "nowhere" / "missing.db"
    (env / "nowhere").mkdir()
    assert main([*argv, "--database", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"no database at {missing}" in err and "--database" in err
    assert list((env / "nowhere").iterdir()) == []
    # Without --database the default (BASE_DATABASE_URL here) is named too.
    assert main(argv) == 1
    assert f"no database at {env / 'cli.db'} (BASE_DATABASE_URL)" in capsys.readouterr().err
    assert not (env / "cli.db").exists()


def test_the_demo_database_is_suggested_when_the_default_is_missing(env, monkeypatch, capsys):
    monkeypatch.delenv("BASE_DATABASE_URL")
    (env / "base-demo").mkdir()
    assert main(["migrate", "--database", str(env / "base-demo" / "base-demo.db")]) == 0
    capsys.readouterr()
    assert main(["tokens", "stats"]) == 1
    err = capsys.readouterr().err
    assert "BASE_DATABASE_URL is unset" in err and "--database base-demo/base-demo.db" in err
    assert not (env / "base.db").exists()
    assert main(["tokens", "stats", "--database", "base-demo/base-demo.db"]) == 0
    assert "tokens 0" in capsys.readouterr().out


def test_every_command_but_the_simulator_takes_database(capsys):
    for argv in (["serve"], ["demo"], ["migrate"], ["tokens", "add"], ["tokens", "stats"],
                 ["credits", "grant"], ["reconcile"], ["models", "list"]):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        assert "--database" in capsys.readouterr().out, argv


def test_a_token_that_does_not_look_like_replicates_is_refused_unless_forced(env, capsys):
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["tokens", "add", "notatoken"]) == 1
    assert "does not look like a Replicate token (r8_ and 37 letters or digits)" in capsys.readouterr().err
    assert main(["tokens", "add", SECRET[:-1]]) == 1  # one character short
    assert main(["tokens", "add", "notatoken", "--force"]) == 0
    token_id, label, masked = capsys.readouterr().out.strip().split("  ")
    assert label == f"token {token_id[:8]}" and "notatoken" not in masked
    assert main(["tokens", "add", SECRET]) == 0
    label = capsys.readouterr().out.split("  ")[1]
    token_id = label.removeprefix("token ")
    assert token_id and token_id not in SECRET and SECRET[-4:] not in label
