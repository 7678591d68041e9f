"""SequentialIds: deterministic version-4-shaped UUIDs, whatever the counter reaches."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from base_testing import SequentialIds


@given(st.integers(min_value=0, max_value=1 << 60))
def test_an_id_is_the_uuid_of_its_number(start: int) -> None:
    ids = SequentialIds(start)
    for n in (start, start + 1):
        assert ids.new_id() == str(uuid.UUID(int=(0x4000 << 64 | 0x8000 << 48) + n))


def test_the_first_ids() -> None:
    ids = SequentialIds()
    assert [ids.new_id(), ids.new_id()] == [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
    ]
