"""The API on in-memory adapters and FakeInference, driven through Litestar's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from http_helpers import Api, build_services
from litestar.testing import AsyncTestClient

from adapters.memory import MemoryStore
from adapters.system import SystemClock
from base_testing import FakeInference
from entrypoints.http import create_app


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store = MemoryStore()
    inference = FakeInference(SystemClock())
    ec_key = ec.generate_private_key(ec.SECP256R1())
    services, sessions = build_services(store, inference, ec_key)
    await services.studio.add_token("r8_test_token_secret_value_0001", "first")
    async with AsyncTestClient(app=create_app(services)) as client:
        yield Api(client, services.studio, inference, sessions, ec_key)


