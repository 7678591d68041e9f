"""A short run of the money load test: two servers, one PostgreSQL database, faults."""

from __future__ import annotations

import os

import pytest
from money_load import run, verdict

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


async def test_two_servers_under_load_keep_every_credit_in_place():
    url = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set (required in CI)")
    report = await run(seconds=8, users=6, seed=7, postgres_url=url)
    assert verdict(report) == [], report
    assert report["requests"] > 50 and report["generations_by_state"].get("completed", 0) > 0
    assert report["webhook_deliveries"] > 0
