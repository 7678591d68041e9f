"""Which characters text may hold: one line (ids, labels, reasons), or free text (prompts).

One line of text may not hold control characters (C0, DEL, C1: PostgreSQL refuses NUL and
escape sequences would reach operators' terminals), line or paragraph separators, or the
bidirectional overrides and isolates that make a terminal show text in another order than
it is. Everything else is allowed, emoji sequences joined by U+200D included.

The rule is written once as a regular expression so that the HTTP layer can state the same
rule in its schema (`LINE_PATTERN`) that the core checks here.
"""

from __future__ import annotations

import re

# Each range once; the patterns and the checks below are all made from these.
# Written with escapes (not the characters), which Python and JSON Schema read alike.
_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# A whole value of zero or more allowed characters (JSON Schema `pattern` is unanchored).
LINE_PATTERN = f"^[^{_FORBIDDEN}]*$"
# The same, without white space (secrets).
WORD_PATTERN = f"^[^\\s{_FORBIDDEN}]*$"
# Free text (prompts) may run over several lines: tab, newline and carriage return are
# allowed there; the other C0 controls, DEL and the C1 controls are not.
_TEXT_FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
TEXT_PATTERN = f"^[^{_TEXT_FORBIDDEN}]*$"
# Free text with at least one character that is not white space.
FILLED_TEXT_PATTERN = f"^[^{_TEXT_FORBIDDEN}]*[^\\s{_TEXT_FORBIDDEN}][^{_TEXT_FORBIDDEN}]*$"
_FORBIDDEN_RE = re.compile(f"[{_FORBIDDEN}]")
_TEXT_FORBIDDEN_RE = re.compile(f"[{_TEXT_FORBIDDEN}]")
_FORBIDDEN_OR_SPACE_RE = re.compile(f"[\\s{_FORBIDDEN}]")


# Every forbidden character is one `str.isprintable` refuses (a control, a format
# character, a line or paragraph separator), so a printable value, the common one, needs
# no search: a C scan of the characters costs a fifth of the pattern's.


def is_line(value: str) -> bool:
    """Whether `value` is one line of text the service stores and shows."""
    return value.isprintable() or _FORBIDDEN_RE.search(value) is None


def is_text(value: str) -> bool:
    """Whether `value` is free text: any number of lines, without control characters."""
    return value.isprintable() or _TEXT_FORBIDDEN_RE.search(value) is None


def strip_forbidden(value: str) -> str:
    """`value` without the characters one line of text may not hold."""
    return _FORBIDDEN_RE.sub("", value)


def is_word(value: str) -> bool:
    """Whether `value` is one line of text without white space."""
    return _FORBIDDEN_OR_SPACE_RE.search(value) is None


__all__ = [
    "FILLED_TEXT_PATTERN",
    "LINE_PATTERN",
    "TEXT_PATTERN",
    "WORD_PATTERN",
    "is_line",
    "is_text",
    "is_word",
    "strip_forbidden",
]
