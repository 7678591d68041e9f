"""What counts as a Replicate token: `r8_` and 37 ASCII letters or digits, nothing else."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base_core.errors import InvalidRequest
from base_core.tokens import looks_like_replicate_token
from base_core.usecases.tokens import check_replicate_shape

ALNUM = string.ascii_letters + string.digits
bodies = st.text(alphabet=ALNUM, min_size=37, max_size=37)


@given(bodies)
def test_r8_and_37_letters_or_digits_is_a_replicate_token(body):
    assert looks_like_replicate_token("r8_" + body)
    check_replicate_shape("r8_" + body, force=False)


@given(bodies, st.integers(0, 36), st.characters(exclude_characters=ALNUM))
def test_any_other_character_in_the_body_is_not(body, at, other):
    assert not looks_like_replicate_token("r8_" + body[:at] + other + body[at + 1:])


@given(st.text(alphabet=ALNUM, max_size=80).filter(lambda body: len(body) != 37))
def test_any_other_length_is_not(body):
    assert not looks_like_replicate_token("r8_" + body)


@given(bodies, st.text(min_size=3, max_size=3).filter(lambda prefix: prefix != "r8_"))
def test_any_other_prefix_is_not(body, prefix):
    assert not looks_like_replicate_token(prefix + body)


def test_forcing_accepts_any_shape():
    with pytest.raises(InvalidRequest) as refused:
        check_replicate_shape("notatoken", force=False)
    assert refused.value.field == "token"
    check_replicate_shape("notatoken", force=True)
