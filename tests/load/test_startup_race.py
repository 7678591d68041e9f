"""Several servers starting at once on one PostgreSQL database all come up with one pool."""

from __future__ import annotations

import asyncio
import os

import pytest
from money_load import fresh_database

from entrypoints.bootstrap import open_services
from entrypoints.settings import Settings

pytestmark = pytest.mark.postgres

TOKENS = tuple(f"r8_startup_race_token_{i:04d}" for i in range(6))


async def test_processes_starting_together_feed_the_pool_once():
    url = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set (required in CI)")
    async with fresh_database(url) as database_url:
        settings = Settings(
            database_url=database_url, replicate_tokens=TOKENS,
            replicate_base_url="http://127.0.0.1:9", session_secret="s" * 48,
        )

        async def start() -> list[str]:
            async with open_services(settings, background=False) as services:
                stats = await services.studio.token_stats()
                return sorted(t.id for t in stats.tokens)

        pools = await asyncio.gather(*(start() for _ in range(6)))
    assert all(pool == pools[0] for pool in pools) and len(pools[0]) == len(TOKENS)
