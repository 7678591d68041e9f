"""Shared by every test folder: this file puts tests/ on sys.path, so support modules
kept here (live_server.py) import the same way from any folder."""

import pytest


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on loopback, one per test session (tests/s3_support.py)."""
    from s3_support import require_moto, running_moto

    require_moto()
    with running_moto() as server:
        yield server
