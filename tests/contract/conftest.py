"""One storage fixture for every contract suite: the same tests on every adapter.

`uow_factory` is a UnitOfWorkFactory on a clean database of the backend named by the
parameter. PostgreSQL comes from BASE_TEST_POSTGRES_URL; without it those tests skip with
a reason (CI always sets it).
"""

from __future__ import annotations

import os

import pytest

from adapters.memory import MemoryStore

BACKENDS = ["memory", "sqlite", "postgres"]


def postgres_url() -> str | None:
    return os.environ.get("BASE_TEST_POSTGRES_URL") or None


@pytest.fixture(params=BACKENDS)
async def uow_factory(request, tmp_path):
    backend = request.param
    if backend == "memory":
        yield MemoryStore()
        return
    pytest.skip("the SQL adapters are not built yet")
