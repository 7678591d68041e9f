"""Start-up that says what is wrong: every bad setting, an unmigrated or newer schema, an
unreachable database, each a one-line message and a non-zero exit of a real `base serve`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sql.migrations import downgrade, head_revision, upgrade
from live_server import BASE, child_env, free_port

pytestmark = pytest.mark.slow

# One bad value for every setting that can be wrong, and the words the line must say.
BAD_SETTINGS = [
    ("BASE_DATABASE_URL", "mysql://db/base", "sqlite+aiosqlite"),
    ("BASE_REPLICATE_BASE_URL", "ftp://replicate", "http(s) URL"),
    ("BASE_REPLICATE_WEBHOOK_SECRET", "not-whsec", "whsec_"),
    ("BASE_PUBLIC_URL", "example.com", "http(s) URL"),
    ("BASE_SUPABASE_JWT_SECRET", "short", "32 characters"),
    ("BASE_SUPABASE_URL", "project.supabase.co", "http(s) URL"),
    ("BASE_TELEGRAM_BOT_TOKEN", "no colon here", "<digits>:<text>"),
    ("BASE_SESSION_SECRET", "short", "32 characters"),
    ("BASE_INITIAL_CREDITS", "-1", ">= 0"),
    ("BASE_INITIAL_CREDITS", "lots", "int"),
    ("BASE_MODELS_FILE", "/nonexistent/models.json", "not a readable file"),
    ("BASE_RECONCILE_AFTER_SECONDS", "0", "> 0"),
    ("BASE_PENDING_AFTER_SECONDS", "soon", "float"),
    ("BASE_MAX_IN_FLIGHT_PER_USER", "0", ">= 1"),
    ("BASE_OUTPUT_URL", "outputs.example.com", "http(s) URL"),
    ("BASE_ALLOW_PRIVATE_IMAGE_URLS", "maybe", "bool"),
    ("BASE_LOG_FORMAT", "xml", "one of text, json"),
    ("BASE_METRICS_BIND", "9464", "host:port"),
    ("BASE_METRICS_BIND", "127.0.0.1:70000", "between 1 and 65535"),
    ("BASE_METRICS_TOKEN", "short", "32 characters"),
    ("BASE_SHUTDOWN_SECONDS", "0", "> 0"),
]


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_each_bad_setting_stops_base_serve_with_one_line_naming_it(tmp_path: Path) -> None:
    processes = []
    for n, (variable, bad, _) in enumerate(BAD_SETTINGS):
        workdir = tmp_path / str(n)
        workdir.mkdir()
        env = child_env(**{"BASE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'base.db'}", variable: bad})
        processes.append(subprocess.Popen(
            [str(BASE), "serve", "--port", str(free_port())], cwd=workdir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    for (variable, bad, expects), process in zip(BAD_SETTINGS, processes, strict=True):
        out, err = process.communicate(timeout=60)
        result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        line = _assert_one_clear_line(result, variable, expects)
        assert line.startswith(f"base: bad setting {variable}: ")
        # Not one byte of a secret-looking value is repeated back.
        if "SECRET" in variable or "TOKEN" in variable:
            assert bad not in line


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = child_env(BASE_DATABASE_URL=f"postgresql+asyncpg://nobody@127.0.0.1:{port}/none")
    result = subprocess.run([str(BASE), "serve", "--port", str(free_port())], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False, timeout=60)
    _assert_one_clear_line(result, "the database does not answer", "BASE_DATABASE_URL")


def test_a_sqlite_schema_newer_than_the_code_refuses_to_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'base.db'}"
    upgrade(url)
    asyncio.run(_execute(url, "UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    env = child_env(BASE_DATABASE_URL=url)
    result = subprocess.run([str(BASE), "serve", "--port", str(free_port())], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False, timeout=60)
    _assert_one_clear_line(result, "9999_from_the_future", "newer than this code", head_revision())


async def _execute(url: str, statement: str, *, autocommit: bool = False) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT") if autocommit else create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def postgres_database() -> str:
    server = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    name = f"ops_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(server, f'CREATE DATABASE "{name}"', autocommit=True))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True))


@pytest.mark.postgres
def test_postgres_missing_behind_or_newer_schema_stops_base_serve(postgres_database: str, tmp_path: Path) -> None:
    env = child_env(BASE_DATABASE_URL=postgres_database)

    def serve() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BASE), "serve", "--port", str(free_port())], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=False, timeout=60)

    # Missing: today's traceback about a missing `replicate_tokens` relation, no more.
    line = _assert_one_clear_line(serve(), "no schema", "run `base migrate`")
    assert "replicate_tokens" not in line
    upgrade(postgres_database, "0004_history_count")
    _assert_one_clear_line(serve(), "0004_history_count", "behind", "run `base migrate`")
    migrated = subprocess.run([str(BASE), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert migrated.returncode == 0, migrated.stderr
    asyncio.run(_execute(postgres_database, "UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    _assert_one_clear_line(serve(), "newer than this code")
    asyncio.run(_execute(postgres_database, f"UPDATE alembic_version SET version_num = '{head_revision()}'"))
    downgrade(postgres_database, "base")
    _assert_one_clear_line(serve(), "no schema", "run `base migrate`")
