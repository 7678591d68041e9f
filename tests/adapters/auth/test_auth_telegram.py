"""TelegramInitDataVerifier and sign_init_data."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from urllib.parse import quote

import pytest

from adapters.auth import TelegramInitDataVerifier, TelegramUser, sign_init_data
from base_core.errors import Unauthenticated

BOT_TOKEN = "7000000001:AAH-test-token_for-offline-use"
NOW = 1_750_000_000
USER = {
    "id": 279058397,
    "first_name": "Vladislav + Co",
    "last_name": "Kibenko",
    "username": "vdkfrost",
    "language_code": "ru",
    "is_premium": True,
    "allows_write_to_pm": True,
    "photo_url": "https://t.me/i/userpic/320/abc.svg",
}


def telegram_pairs(bot_token: str = BOT_TOKEN, **overrides: str) -> list[tuple[str, str]]:
    """Decoded (key, value) pairs signed exactly as REFERENCE.md describes, hash last."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(USER, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(NOW - 5),
        "signature": "6fbdaab833d39f54518bd5c3eb3f511d035e68cb_kEeCUUdrUp-AUmSN2EEaJfBzCQ",
    }
    fields.update(overrides)
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret_key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    digest = hmac.new(secret_key, check_string.encode(), hashlib.sha256).hexdigest()
    return [*fields.items(), ("hash", digest)]


def encode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)


@pytest.fixture
def verifier() -> TelegramInitDataVerifier:
    return TelegramInitDataVerifier(BOT_TOKEN, clock=lambda: NOW)


def refused(verifier: TelegramInitDataVerifier, init_data: object) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(init_data)  # type: ignore[arg-type]
    return caught.value


def test_valid_init_data(verifier):
    user = verifier.verify(encode(telegram_pairs()))
    assert user == TelegramUser(
        id=279058397,
        first_name="Vladislav + Co",
        last_name="Kibenko",
        username="vdkfrost",
        language_code="ru",
        is_premium=True,
        photo_url="https://t.me/i/userpic/320/abc.svg",
        auth_date=NOW - 5,
    )


def test_sign_init_data_matches_the_reference_construction():
    pairs = telegram_pairs()
    fields = dict(pairs[:-1])
    assert sign_init_data(fields, BOT_TOKEN) == encode(pairs)


def test_sign_init_data_refuses_what_it_cannot_sign():
    with pytest.raises(ValueError):
        sign_init_data({"hash": "x"}, BOT_TOKEN)
    with pytest.raises(ValueError):
        sign_init_data({"user": "a\nb"}, BOT_TOKEN)


@pytest.mark.parametrize(
    ("bot_token", "init_data", "auth_date"),
    [
        # Vectors from an independent implementation (aiogram's test-suite), "+" for spaces.
        ("42:TEST",
         "auth_date=1650385342&user=%7B%22id%22%3A42%2C%22first_name%22%3A%22Test%22%7D"
         "&query_id=test&hash=46d2ea5e32911ec8d30999b56247654460c0d20949b6277af519e76271182803",
         1650385342),
    ],
)
def test_interoperates_with_published_vectors(bot_token, init_data, auth_date):
    user = TelegramInitDataVerifier(bot_token, clock=lambda: auth_date + 10).verify(init_data)
    assert (user.id, user.first_name, user.auth_date) == (42, "Test", auth_date)
    assert user.last_name is None and user.is_premium is None
    with pytest.raises(Unauthenticated):
        TelegramInitDataVerifier("42:INVALID", clock=lambda: auth_date).verify(init_data)


def test_plus_means_space_in_published_data():
    init_data = (
        "auth_date=1650385342&user=%7B%22id%22%3A+%22123456789%22%2C+%22first_name%22%3A+"
        "%22PlaceholderFirstName%22%7D&query_id=test&hash=" + "0" * 64
    )
    # Wrong hash on purpose: only the parsing is exercised, and it must not blow up.
    refused(TelegramInitDataVerifier("42:TEST", clock=lambda: 1650385342), init_data)


@pytest.mark.parametrize("seed", range(5))
def test_field_order_does_not_matter(verifier, seed):
    pairs = telegram_pairs()
    random.Random(seed).shuffle(pairs)
    assert verifier.verify(encode(pairs)).id == USER["id"]


@pytest.mark.parametrize("key", ["query_id", "user", "auth_date", "signature", "hash"])
def test_tampering_with_any_field_is_refused(verifier, key):
    pairs = telegram_pairs()
    index = [k for k, _ in pairs].index(key)
    original = pairs[index][1]
    for tampered in (original[:-1], original + "0", original.swapcase(), "", original[::-1]):
        if tampered == original:
            continue
        changed = list(pairs)
        changed[index] = (key, tampered)
        refused(verifier, encode(changed))


def test_the_user_cannot_be_swapped(verifier):
    pairs = telegram_pairs()
    other = json.dumps({**USER, "id": 1}, separators=(",", ":"))
    refused(verifier, encode([(k, other if k == "user" else v) for k, v in pairs]))


@pytest.mark.parametrize("key", ["query_id", "user", "auth_date", "signature", "hash"])
def test_removing_any_field_is_refused(verifier, key):
    refused(verifier, encode([(k, v) for k, v in telegram_pairs() if k != key]))


def test_adding_a_field_is_refused(verifier):
    refused(verifier, encode([*telegram_pairs(), ("start_param", "promo")]))


def test_signed_unknown_fields_are_accepted(verifier):
    pairs = telegram_pairs(chat_type="sender", chat_instance="-1234567890", start_param="x")
    assert verifier.verify(encode(pairs)).id == USER["id"]


def test_without_query_id_is_accepted(verifier):
    pairs = [(k, v) for k, v in telegram_pairs() if k not in ("query_id", "hash")]
    assert verifier.verify(sign_init_data(dict(pairs), BOT_TOKEN)).id == USER["id"]


@pytest.mark.parametrize("key", ["query_id", "user", "auth_date", "signature", "hash"])
def test_duplicated_keys_are_refused(verifier, key):
    pairs = telegram_pairs()
    value = dict(pairs)[key]
    refused(verifier, encode([*pairs, (key, value)]))
    refused(verifier, encode([(key, value), *pairs]))


def test_wrong_bot_token_is_refused(verifier):
    refused(verifier, encode(telegram_pairs(bot_token="7000000001:another-token")))
    other_bot = TelegramInitDataVerifier("7000000002:AAH-other", clock=lambda: NOW)
    refused(other_bot, encode(telegram_pairs()))


def test_stale_auth_date_is_refused():
    pairs = telegram_pairs(auth_date=str(NOW - 3600))
    assert TelegramInitDataVerifier(BOT_TOKEN, clock=lambda: NOW).verify(encode(pairs))
    late = TelegramInitDataVerifier(BOT_TOKEN, clock=lambda: NOW + 1)
    assert "old" in str(refused(late, encode(pairs)))
    lenient = TelegramInitDataVerifier(BOT_TOKEN, max_age_seconds=86400, clock=lambda: NOW + 1)
    assert lenient.verify(encode(pairs)).auth_date == NOW - 3600


def test_future_auth_date_is_refused(verifier):
    assert verifier.verify(encode(telegram_pairs(auth_date=str(NOW + 60))))
    assert "future" in str(refused(verifier, encode(telegram_pairs(auth_date=str(NOW + 61)))))


@pytest.mark.parametrize("auth_date", ["", "abc", "-5", "1.5", " 1750000000", "1e9", "١٢٣"])
def test_malformed_auth_date_is_refused(verifier, auth_date):
    refused(verifier, encode(telegram_pairs(auth_date=auth_date)))


@pytest.mark.parametrize(
    "user",
    ['{"first_name":"A"}', '{"id":"42"}', '{"id":true}', '{"id":-1}', '{"id":4.2}', "[]",
     "42", "null", "{", "", '{"id":1', '"\\ud800"'],
)
def test_malformed_user_is_refused_even_when_signed(verifier, user):
    refused(verifier, encode(telegram_pairs(user=user)))


def test_user_is_read_tolerantly(verifier):
    user = '{"id":42,"first_name":7,"is_premium":"yes","added_to_attachment_menu":true}'
    assert verifier.verify(encode(telegram_pairs(user=user))) == TelegramUser(
        id=42, auth_date=NOW - 5
    )


def test_newline_smuggling_is_refused(verifier):
    # Folding one field into another's value keeps the check string, not the meaning.
    pairs = telegram_pairs()
    fields = dict(pairs)
    folded = [
        ("auth_date", f"{fields['auth_date']}\nquery_id={fields['query_id']}"),
        ("signature", fields["signature"]),
        ("user", fields["user"]),
        ("hash", fields["hash"]),
    ]
    refused(verifier, encode(folded))


@pytest.mark.parametrize(
    "init_data",
    ["", "&", "=", "hash", "hash=", "a=1&&b=2", "a=1;b=2", "%ff=1&hash=" + "0" * 64,
     "user=%E9&hash=" + "0" * 64, "user=\ud800&hash=" + "0" * 64, "x" * 20000,
     None, b"auth_date=1", 42],
)
def test_garbage_is_refused(verifier, init_data):
    refused(verifier, init_data)


def test_upper_case_hash_is_refused(verifier):
    pairs = telegram_pairs()
    refused(verifier, encode([(k, v.upper() if k == "hash" else v) for k, v in pairs]))


def test_empty_bot_token_is_a_configuration_error():
    with pytest.raises(ValueError):
        TelegramInitDataVerifier("")
