"""Files uploaded through Replicate's Files API (`/v1/files`), kept per account."""

from __future__ import annotations

import hashlib
import threading

import attrs

from replicate_simulator.state import iso_timestamp, new_prediction_id

# Replicate keeps an uploaded file for a day; the simulator shows the date but keeps it.
FILE_LIFETIME = 24 * 3600


@attrs.frozen
class Upload:
    id: str
    account: str
    name: str
    content_type: str
    data: bytes
    metadata: dict[str, object]
    created_at: float

    def to_json(self, base_url: str) -> dict[str, object]:
        md5 = hashlib.md5(self.data, usedforsecurity=False).hexdigest()
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": len(self.data),
            "etag": md5,
            "checksums": {"sha256": hashlib.sha256(self.data).hexdigest(), "md5": md5},
            "metadata": self.metadata,
            "created_at": iso_timestamp(self.created_at),
            "expires_at": iso_timestamp(self.created_at + FILE_LIFETIME),
            "urls": {"get": f"{base_url}/v1/files/{self.id}"},
        }


class Uploads:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, Upload] = {}

    def add(
        self, account: str, name: str, content_type: str, data: bytes,
        metadata: dict[str, object], now: float,
    ) -> Upload:
        upload = Upload(new_prediction_id(), account, name, content_type, data, metadata, now)
        with self._lock:
            self._files[upload.id] = upload
        return upload

    def get(self, file_id: str, account: str) -> Upload | None:
        with self._lock:
            upload = self._files.get(file_id)
        return upload if upload is not None and upload.account == account else None

    def of_account(self, account: str) -> list[Upload]:
        with self._lock:
            return [u for u in self._files.values() if u.account == account]

    def delete(self, file_id: str, account: str) -> bool:
        with self._lock:
            upload = self._files.get(file_id)
            if upload is None or upload.account != account:
                return False
            del self._files[file_id]
            return True

    def clear(self) -> None:
        with self._lock:
            self._files.clear()
