"""`base credits audit`: silent books pass, a difference is printed and exits non-zero."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from entrypoints.bootstrap import open_services
from entrypoints.cli import main
from entrypoints.settings import Settings


def test_the_audit_prints_differences_and_exits_non_zero(tmp_path, monkeypatch, capsys) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("BASE_DATABASE_URL", url)

    async def prepare() -> None:
        async with open_services(Settings.from_env(), background=False) as services:
            await services.studio.ensure_user("0b7c9d8e-1f2a-4b3c-8d4e-5f6a7b8c9d0e")

    asyncio.run(prepare())
    assert main(["credits", "audit"]) == 0
    assert "the books agree" in capsys.readouterr().out

    engine = sa.create_engine(url.replace("+aiosqlite", ""))
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE credit_accounts SET balance = balance + 7"))
    engine.dispose()
    assert main(["credits", "audit"]) == 1
    captured = capsys.readouterr()
    assert "balance 107, ledger sum 100" in captured.out and "1 difference" in captured.err
