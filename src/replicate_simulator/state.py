"""What a simulator remembers: predictions, output files, and logs of what happened."""

from __future__ import annotations

import asyncio
import secrets
import string
import threading
import time
from datetime import UTC, datetime
from typing import Literal

import attrs

from replicate_simulator.faults import Fault
from replicate_simulator.models import ModelSpec

Status = Literal["starting", "processing", "succeeded", "failed", "canceled", "aborted"]

# The lifecycle, in one place: every status a prediction may move to from each status.
TRANSITIONS: dict[str, frozenset[str]] = {
    "starting": frozenset({"processing", "failed", "canceled", "aborted"}),
    "processing": frozenset({"succeeded", "failed", "canceled"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "canceled": frozenset(),
    "aborted": frozenset(),
}
TERMINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_prediction_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


def iso_timestamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class IllegalTransition(Exception):
    """A prediction was asked to move to a status its current one does not lead to."""


@attrs.define(eq=False)
class Prediction:
    id: str
    model: ModelSpec
    input: dict[str, object]
    params: dict[str, object]
    token: str
    account: str
    created_at: float
    webhook: str | None = None
    webhook_events: frozenset[str] = frozenset()
    fault: Fault | None = None
    status: Status = "starting"
    output: object = None
    error: str | None = None
    logs: str = ""
    started_at: float | None = None
    completed_at: float | None = None
    data_removed: bool = False
    file_paths: list[str] = attrs.field(factory=list)
    finished: asyncio.Event = attrs.field(factory=asyncio.Event)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def move_to(self, status: Status, now: float) -> None:
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"{self.id}: {self.status} -> {status}")
        self.status = status
        if status == "processing":
            self.started_at = now
        if status in TERMINAL:
            self.completed_at = now
            self.finished.set()

    def remove_data(self) -> None:
        self.input = {}
        self.output = None
        self.data_removed = True

    def to_json(self, base_url: str) -> dict[str, object]:
        url = f"{base_url}/v1/predictions/{self.id}"
        body: dict[str, object] = {
            "id": self.id,
            "model": self.model.ref,
            "version": self.model.version,
            "input": self.input,
            "logs": self.logs,
            "output": self.output,
            "data_removed": self.data_removed,
            "error": self.error,
            "status": self.status,
            "created_at": iso_timestamp(self.created_at),
            "started_at": iso_timestamp(self.started_at),
            "completed_at": iso_timestamp(self.completed_at),
            "urls": {"get": url, "cancel": f"{url}/cancel", "web": f"{base_url}/p/{self.id}"},
            "source": "api",
        }
        if self.webhook is not None:
            body["webhook"] = self.webhook
            body["webhook_events_filter"] = sorted(self.webhook_events)
        if self.completed_at is not None:
            metrics: dict[str, object] = {"total_time": self.completed_at - self.created_at}
            if self.started_at is not None:
                metrics["predict_time"] = self.completed_at - self.started_at
            if self.status == "succeeded" and self.model.task in ("text_to_image", "image_edit"):
                metrics["image_count"] = len(self.file_paths)
            body["metrics"] = metrics
        else:
            body["metrics"] = {}
        return body


@attrs.frozen
class StoredFile:
    data: bytes
    content_type: str


class FileStore:
    """Output files and uploaded fixtures, by path under `/files/`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}

    def put(self, path: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self._files[path] = StoredFile(data, content_type)

    def get(self, path: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(path)

    def delete(self, paths: list[str]) -> None:
        with self._lock:
            for path in paths:
                self._files.pop(path, None)

    def clear(self) -> None:
        with self._lock:
            self._files.clear()


@attrs.frozen
class RequestRecord:
    method: str
    path: str
    token: str | None
    status: int
    at: float

    def to_json(self) -> dict[str, object]:
        return attrs.asdict(self)


@attrs.frozen
class WebhookRecord:
    """One attempt to deliver one webhook."""

    prediction_id: str
    url: str
    webhook_id: str
    prediction_status: str
    attempt: int
    response_status: int | None
    error: str | None
    at: float

    def to_json(self) -> dict[str, object]:
        return attrs.asdict(self)


class History:
    """Append-only logs of API requests and webhook attempts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._webhooks: list[WebhookRecord] = []

    def record_request(self, method: str, path: str, token: str | None, status: int) -> None:
        with self._lock:
            self._requests.append(RequestRecord(method, path, token, status, time.time()))

    def record_webhook(self, record: WebhookRecord) -> None:
        with self._lock:
            self._webhooks.append(record)

    def requests(self, token: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._requests if token is None or r.token == token]

    def webhooks(self, prediction_id: str | None = None) -> list[WebhookRecord]:
        with self._lock:
            return [
                w for w in self._webhooks if prediction_id is None or w.prediction_id == prediction_id
            ]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._webhooks.clear()
