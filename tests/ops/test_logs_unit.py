"""The log formats: one JSON object per record with the request's context; secrets masked."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from base_core.generation import Status
from entrypoints.logs import (
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    begin_request,
    bind_user,
    end_request,
    request_id_from,
)

SECRET = "r8_very_secret_token_value_0001"


def _record(message: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("base.test", logging.WARNING, __file__, 1, message, args,
                               (type(exc), exc, exc.__traceback__) if exc else None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_json_line_has_the_request_context_and_the_extra_fields() -> None:
    token = begin_request(request_id_from("req-42"))
    try:
        bind_user("user-1")
        record = _record("created %s", "g1", generation_id="g1", prediction_id="p1")
        ContextFilter().filter(record)
    finally:
        end_request(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "created g1" and line["level"] == "warning" and line["logger"] == "base.test"
    assert (line["request_id"], line["user_id"]) == ("req-42", "user-1")
    assert (line["generation_id"], line["prediction_id"]) == ("g1", "p1")
    assert line["time"].endswith("+00:00")


def test_outside_a_request_there_is_no_request_id() -> None:
    record = _record("background round")
    ContextFilter().filter(record)
    assert "request_id" not in json.loads(JsonFormatter().format(record))


def test_secrets_are_masked_in_messages_fields_and_tracebacks_in_both_formats() -> None:
    try:
        raise RuntimeError(f"Authorization: Bearer {SECRET}")
    except RuntimeError as error:
        record = _record("calling with %s", SECRET, exc=error, header=SECRET)
    for formatter in (JsonFormatter([SECRET]), TextFormatter([SECRET])):
        text = formatter.format(record)
        assert SECRET not in text and "***" in text
    line = json.loads(JsonFormatter([SECRET]).format(record))
    assert "RuntimeError" in line["exception"]


def test_a_request_id_is_taken_only_when_sane() -> None:
    assert request_id_from("abc-DEF_1.2:3") == "abc-DEF_1.2:3"
    for bad in (None, "", "a b", "x" * 129, "<script>", "id\n"):
        assert request_id_from(bad) != bad and len(request_id_from(bad)) == 32


def test_fields_of_any_type_still_make_one_json_line() -> None:
    class Opaque:
        def __str__(self) -> str:
            return f"opaque {SECRET}"

    at = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    record = _record("odd fields", at=at, pair=(1, 2), keyed={(1, 2): "x", 3: "y"}, thing=Opaque(),
                     status=Status.FAILED)
    text = JsonFormatter([SECRET]).format(record)
    assert "\n" not in text and SECRET not in text
    line = json.loads(text)
    assert line["at"].startswith("2026-12-02T13:00:00") and line["pair"] == [1, 2]
    assert line["keyed"] == {"(1, 2)": "x", "3": "y"}
    assert line["thing"] == "opaque ***" and line["status"] == "failed"


def test_fresh_request_ids_differ() -> None:
    ids = {request_id_from(None) for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
