"""Credit packs: what a user can buy, and for how much with each payment provider.

A pack has a price in Telegram Stars (`XTR`, whole stars) and a price for Stripe (an amount
in the currency's minor unit, e.g. cents, and the currency); either may be absent, and a
pack without a price for a provider cannot be bought through it. The catalogue has
built-in defaults and may be replaced at start-up by plain data (`BASE_CREDIT_PACKS_FILE`),
validated here with every bad path named, like the model registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from base_core.errors import InvalidRegistry, InvalidRequest
from base_core.text import is_line

MAX_TITLE_LENGTH = 32  # Telegram's limit on an invoice title
MAX_CREDITS = 1_000_000_000
MAX_PRICE = 100_000_000
PACK_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CURRENCY = re.compile(r"^[a-z]{3}$")
STARS = "XTR"


@attrs.frozen
class CreditPack:
    id: str
    title: str
    credits: int
    stars: int | None = None  # price in Telegram Stars
    amount: int | None = None  # price for Stripe, in the currency's minor unit
    currency: str | None = None  # ISO 4217, lower case (Stripe's spelling)


class PackCatalogue:
    """The packs on sale, in the order given."""

    def __init__(self, packs: Sequence[CreditPack]) -> None:
        self._packs = {pack.id: pack for pack in packs}

    def __iter__(self) -> Iterator[CreditPack]:
        return iter(self._packs.values())

    def __len__(self) -> int:
        return len(self._packs)

    def get(self, pack_id: str) -> CreditPack:
        pack = self._packs.get(pack_id) if isinstance(pack_id, str) else None
        if pack is None:
            raise InvalidRequest("pack_id", f"unknown credit pack {str(pack_id)[:64]!r}")
        return pack

    @classmethod
    def from_data(cls, data: object) -> PackCatalogue:
        """`{"packs": [{"id", "title", "credits", "stars", "amount", "currency"}, ...]}`;
        raise InvalidRegistry naming every bad path (`packs[1].credits: must be ...`)."""
        problems: list[str] = []
        packs: list[CreditPack] = []
        if not isinstance(data, Mapping) or set(data) != {"packs"}:
            raise InvalidRegistry(["expected a document with exactly one key, packs"])
        items = data["packs"]
        if not isinstance(items, list) or not items:
            raise InvalidRegistry(["packs: expected a non-empty list"])
        seen: set[str] = set()
        for index, item in enumerate(items):
            pack = _pack(f"packs[{index}]", item, problems)
            if pack is None:
                continue
            if pack.id in seen:
                problems.append(f"packs[{index}].id: {pack.id!r} is used twice")
            seen.add(pack.id)
            packs.append(pack)
        if problems:
            raise InvalidRegistry(problems)
        return cls(packs)


_FIELDS = ("id", "title", "credits", "stars", "amount", "currency")


def _pack(path: str, item: Any, problems: list[str]) -> CreditPack | None:
    if not isinstance(item, Mapping):
        problems.append(f"{path}: expected an object")
        return None
    before = len(problems)
    for key in item:
        if key not in _FIELDS:
            problems.append(f"{path}.{key}: unknown key")
    pack_id, title, credits = item.get("id"), item.get("title"), item.get("credits")
    if not isinstance(pack_id, str) or not PACK_ID.match(pack_id):
        problems.append(f"{path}.id: expected 1-64 of a-z, 0-9, _ and -, starting with a letter or digit")
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE_LENGTH or not is_line(title):
        problems.append(f"{path}.title: expected 1-{MAX_TITLE_LENGTH} characters without control characters")
    if not _whole(credits, MAX_CREDITS):
        problems.append(f"{path}.credits: expected a whole number from 1 to {MAX_CREDITS}")
    stars, amount, currency = item.get("stars"), item.get("amount"), item.get("currency")
    if stars is not None and not _whole(stars, MAX_PRICE):
        problems.append(f"{path}.stars: expected a whole number of stars from 1 to {MAX_PRICE}, or null")
    if amount is not None and not _whole(amount, MAX_PRICE):
        problems.append(f"{path}.amount: expected a whole number of minor units from 1 to {MAX_PRICE}, or null")
    if currency is not None and (not isinstance(currency, str) or not CURRENCY.match(currency.lower())):
        problems.append(f"{path}.currency: expected a three-letter currency code, or null")
    if (amount is None) != (currency is None):
        problems.append(f"{path}: amount and currency go together")
    if stars is None and amount is None:
        problems.append(f"{path}: a pack needs a price (stars, or amount and currency)")
    if len(problems) > before or not isinstance(pack_id, str) or not isinstance(title, str):
        return None
    assert isinstance(credits, int)
    return CreditPack(
        id=pack_id, title=title, credits=credits, stars=stars, amount=amount,
        currency=currency.lower() if isinstance(currency, str) else None,
    )


def _whole(value: object, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most


BUILTIN_PACKS = (
    CreditPack("starter", "100 credits", 100, stars=50, amount=199, currency="usd"),
    CreditPack("standard", "500 credits", 500, stars=225, amount=899, currency="usd"),
    CreditPack("studio", "2000 credits", 2000, stars=800, amount=2999, currency="usd"),
)


def builtin_packs() -> PackCatalogue:
    return PackCatalogue(BUILTIN_PACKS)


__all__ = ["BUILTIN_PACKS", "STARS", "CreditPack", "PackCatalogue", "builtin_packs"]
