"""One rule for the characters of a line and of free text, stated as the patterns the
document shows and checked by the functions the core calls: the two must agree."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from base_core.text import (
    FILLED_TEXT_PATTERN,
    LINE_PATTERN,
    TEXT_PATTERN,
    WORD_PATTERN,
    is_line,
    is_text,
    is_word,
    strip_forbidden,
)

# Every code point but surrogates, with the interesting ones drawn often.
SPECIAL = "\x00\x1b\t\n\r\x7f\x85\x9f \u00a0\u200d\u2028\u2029\u202a\u202e\u2066\u2069\u3000"
CHARACTERS = st.one_of(st.sampled_from(SPECIAL), st.characters(exclude_categories=["Cs"]))
TEXTS = st.text(CHARACTERS, max_size=12)


def matches(pattern: str, value: str) -> bool:
    """A JSON Schema `pattern` (ECMA-262): its `$` is the end of the value, where Python's
    also matches before a final newline."""
    assert pattern.endswith("$")
    return re.search(pattern[:-1] + r"\Z", value) is not None


@given(TEXTS)
def test_the_patterns_and_the_checks_agree(value: str) -> None:
    assert is_line(value) is matches(LINE_PATTERN, value)
    assert is_text(value) is matches(TEXT_PATTERN, value)
    assert is_word(value) is matches(WORD_PATTERN, value)
    filled = is_text(value) and bool(value.strip())
    assert filled is matches(FILLED_TEXT_PATTERN, value)


def test_a_final_newline_is_not_allowed_in_a_line() -> None:
    assert not is_line("label\n") and not matches(LINE_PATTERN, "label\n")
    assert not is_word("\n") and not matches(WORD_PATTERN, "\n")


@given(TEXTS)
def test_stripping_leaves_a_line(value: str) -> None:
    stripped = strip_forbidden(value)
    assert is_line(stripped)
    assert stripped == value if is_line(value) else len(stripped) < len(value)


def test_what_a_line_may_and_may_not_hold() -> None:
    assert is_line("family 👨\u200d👩\u200d👧, café, 東京")  # joined emoji and any script
    for bad in ("a\x00b", "\x1b[31mred", "a\nb", "\u2028", "evil\u202eexe.txt", "\u2066x\u2069", "\x9b"):
        assert not is_line(bad), repr(bad)
    assert is_text("two\nlines\twith a tab\r\n") and not is_text("bell\x07")
    assert is_word("r8_abc") and not is_word("r8 abc") and not is_word("r8_\u3000")
