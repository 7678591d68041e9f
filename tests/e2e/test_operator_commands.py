"""Operator commands as real processes: they find the database, and never invent one."""

from __future__ import annotations

import subprocess

import pytest
from e2e_helpers import BASE, child_env

pytestmark = pytest.mark.slow


def base(*argv: str, cwd, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BASE), *argv], cwd=cwd, env=child_env(**env), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("argv", [["tokens", "stats"], ["tokens", "list"], ["reconcile"]])
def test_a_command_pointed_at_a_missing_sqlite_file_fails_and_creates_nothing(tmp_path, argv):
    missing = tmp_path / "missing.db"
    done = base(*argv, "--database", str(missing), cwd=tmp_path)
    assert done.returncode == 1
    assert f"no database at {missing}" in done.stderr
    assert list(tmp_path.iterdir()) == []
    # The same through the service's own setting, and through the default ./base.db.
    through_env = base(*argv, cwd=tmp_path, BASE_DATABASE_URL=f"sqlite+aiosqlite:///{missing}")
    assert through_env.returncode == 1 and "(BASE_DATABASE_URL)" in through_env.stderr
    default = base(*argv, cwd=tmp_path)
    assert default.returncode == 1 and f"no database at {tmp_path / 'base.db'}" in default.stderr
    assert list(tmp_path.iterdir()) == []


def test_migrate_then_read_the_same_database(tmp_path):
    db = tmp_path / "ops.db"
    created = base("migrate", "--database", str(db), cwd=tmp_path)
    assert created.returncode == 0 and f"created {db} and migrated it to" in created.stdout
    again = base("migrate", cwd=tmp_path, BASE_DATABASE_URL=f"sqlite+aiosqlite:///{db}")
    assert "already at" in again.stdout and "nothing to apply" in again.stdout
    stats = base("tokens", "stats", "--database", str(db), cwd=tmp_path)
    assert stats.returncode == 0 and "tokens 0 (active 0)" in stats.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("ops.db-")) == ["ops.db"]
