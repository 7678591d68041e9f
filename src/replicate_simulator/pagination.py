"""Replicate's cursor pages: `results`, and `next`/`previous` URLs that carry a `cursor`.

Items are listed newest first. A cursor names the item at a page's edge and the direction
to read from it, so pages stay stable while new items are added in front.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlencode

T = TypeVar("T")
Key = tuple[float, str]


class InvalidCursor(Exception):
    """A cursor this simulator did not hand out."""


def encode_cursor(direction: str, key: Key) -> str:
    raw = f"{direction}:{key[0]!r}:{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, Key]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, seconds, item_id = raw.split(":", 2)
        if direction not in ("next", "previous"):
            raise ValueError(direction)
        return direction, (float(seconds), item_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursor(cursor) from error


def page(
    items: Sequence[T],
    key: Callable[[T], Key],
    cursor: str | None,
    size: int,
    url: str,
) -> tuple[list[T], str | None, str | None]:
    """One page of `items` (newest first) and the URLs of the next and previous pages."""
    ordered = sorted(items, key=key, reverse=True)
    if cursor is None:
        start = 0
    else:
        direction, edge = decode_cursor(cursor)
        older = [i for i, item in enumerate(ordered) if key(item) < edge]
        first_older = older[0] if older else len(ordered)
        if direction == "next":
            start = first_older
        else:
            newer = len([item for item in ordered if key(item) > edge])
            start = max(0, newer - size)
    chosen = list(ordered[start : start + size])
    next_url = previous_url = None
    if chosen and start + size < len(ordered):
        next_url = f"{url}?{urlencode({'cursor': encode_cursor('next', key(chosen[-1]))})}"
    if chosen and start > 0:
        previous_url = f"{url}?{urlencode({'cursor': encode_cursor('previous', key(chosen[0]))})}"
    return chosen, next_url, previous_url
