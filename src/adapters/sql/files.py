"""Uploads and the queue of stored objects to delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from adapters.sql.mappers import upload_from_row, upload_to_row
from adapters.sql.schema import generations, stored_deletions, uploads
from adapters.sql.session import Session
from base_core.errors import Conflict
from base_core.uploads import Upload

u, d = uploads, stored_deletions
GET = sa.select(u).where(u.c.id == sa.bindparam("id"))
REMOVE = sa.delete(u).where(u.c.id == sa.bindparam("id"))
IN_USE = sa.select(
    sa.exists().where(generations.c.input_upload_id == sa.bindparam("id"), generations.c.deleted_at.is_(None))
)
PENDING = sa.select(d.c.key).order_by(d.c.queued_at, d.c.key).limit(sa.bindparam("limit"))
DONE = sa.delete(d).where(d.c.key.in_(sa.bindparam("keys", expanding=True)))


class SqlFileRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add_upload(self, upload: Upload) -> None:
        if not await self._session.insert_new(u, upload_to_row(upload)):
            raise Conflict(f"upload {upload.id} exists")

    async def upload(self, upload_id: str) -> Upload | None:
        row = (await self._session.execute(GET, {"id": upload_id})).mappings().first()
        return upload_from_row(row) if row is not None else None

    async def remove_upload(self, upload_id: str) -> None:
        await self._session.execute(REMOVE, {"id": upload_id})

    async def upload_in_use(self, upload_id: str) -> bool:
        return bool((await self._session.execute(IN_USE, {"id": upload_id})).scalar())

    async def queue_deletions(self, keys: Sequence[str], now: datetime) -> None:
        for key in dict.fromkeys(keys):
            await self._session.insert_new(d, {"key": key, "queued_at": now})

    async def pending_deletions(self, limit: int) -> list[str]:
        return [row[0] for row in await self._session.execute(PENDING, {"limit": limit})]

    async def deletions_done(self, keys: Sequence[str]) -> None:
        if keys:
            await self._session.execute(DONE, {"keys": list(keys)})


__all__ = ["SqlFileRepository"]
