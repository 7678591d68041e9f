"""A small Server-Sent Events reader for tests: a thread reads the stream, events queue up.

`EventStream(url, token)` opens the stream with the Bearer header (as a browser's `fetch`
does) and parses `event:`/`id:`/`data:` lines and `:` comments; `next(timeout)` returns the
next event (a comment is an event of kind "comment"), or raises TimeoutError; `ended`
tells whether the server closed the stream. `close()` leaves like a browser tab closing.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import time
import urllib.parse
from typing import Any

import attrs


@attrs.frozen
class Event:
    kind: str
    id: str | None = None
    data: str | None = None

    def json(self) -> Any:
        return json.loads(self.data or "null")


class StreamEnded(Exception):
    pass


class EventStream:
    def __init__(self, url: str, token: str, headers: dict[str, str] | None = None) -> None:
        self._events: queue.Queue[Event | None] = queue.Queue()
        parts = urllib.parse.urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        request_headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        request_headers.update(headers or {})
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._connection.request("GET", path, headers=request_headers)
        self.response = self._connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.ended = False
        self.body = b""
        if self.status != 200:
            self.body = self.response.read()
            self.close()
            return
        self._connection.sock.settimeout(None)  # the reader waits; close() unblocks it
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind, event_id, data = "message", None, []
        try:
            while True:
                raw = self.response.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if data or kind != "message" or event_id is not None:
                        self._events.put(Event(kind, event_id, "\n".join(data) if data else None))
                    kind, event_id, data = "message", None, []
                elif line.startswith(":"):
                    self._events.put(Event("comment", data=line[1:].strip()))
                else:
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        kind = value
                    elif field == "id":
                        event_id = value
                    elif field == "data":
                        data.append(value)
        except Exception:  # closed under the reader (a client leaving), or a broken stream
            pass
        finally:
            self.ended = True
            self._events.put(None)

    def next(self, timeout: float = 15.0, *, comments: bool = False) -> Event:
        deadline = time.monotonic() + timeout  # comments skipped do not extend it
        while True:
            try:
                event = self._events.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise TimeoutError("no event in time") from None
            if event is None:
                self._events.put(None)
                raise StreamEnded()
            if event.kind == "comment" and not comments:
                continue
            return event

    def until_end(self, timeout: float = 30.0) -> list[Event]:
        """Every event (not comments) until the server ends the stream."""
        events = []
        while True:
            try:
                events.append(self.next(timeout))
            except StreamEnded:
                return events

    def close(self) -> None:
        """Leave as a closing browser tab does: the connection goes away."""
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
