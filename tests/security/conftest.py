"""Fixtures for the attack tests: the API on memory adapters, and on SQLite and PostgreSQL
for the important ones."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from security_support import Api, open_api

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
async def api(tmp_path) -> AsyncIterator[Api]:
    async with open_api("memory", tmp_path) as built:
        yield built


@pytest.fixture(params=BACKENDS)
async def any_api(request, tmp_path) -> AsyncIterator[Api]:
    async with open_api(request.param, tmp_path) as built:
        yield built
