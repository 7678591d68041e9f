"""The Replicate token pool, in `replicate_tokens` (the name the admin SQL uses)."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.sql.mappers import token_from_row, token_to_row
from adapters.sql.schema import replicate_tokens
from adapters.sql.session import RowsSelect, RowUpdate, Session
from base_core.errors import Conflict
from base_core.tokens import ReplicateToken

t = replicate_tokens
# One order for reading and for locking: two processes locking the pool take the rows in
# the same sequence and cannot deadlock.
POOL_ORDER = (t.c.created_at, t.c.id)

# Built once with bound parameters: building a statement per call costs more than running
# it from SQLAlchemy's compiled cache.
BY_ID = sa.select(t).where(t.c.id == sa.bindparam("id"))
BY_ID_FOR_UPDATE = BY_ID.with_for_update()
BY_SECRET = sa.select(t).where(t.c.secret == sa.bindparam("secret"))
POOL = sa.select(t).order_by(*POOL_ORDER)
POOL_FOR_UPDATE = POOL.with_for_update()
SAVE = RowUpdate(t)


class SqlTokenRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, token: ReplicateToken) -> None:
        if not await self._session.insert_new(t, token_to_row(token)):
            raise Conflict("token exists")
        self._session.events.collect(token)

    async def get(self, token_id: str) -> ReplicateToken | None:
        return await self._one(BY_ID, {"id": token_id})

    async def get_for_update(self, token_id: str) -> ReplicateToken | None:
        token = await self._one(BY_ID_FOR_UPDATE, {"id": token_id})
        return self._session.locked(SAVE, token) if token is not None else None

    async def get_by_secret(self, secret: str) -> ReplicateToken | None:
        return await self._one(BY_SECRET, {"secret": secret})

    async def all(self) -> list[ReplicateToken]:
        return await self._many(POOL)

    async def all_for_update(self) -> list[ReplicateToken]:
        return [self._session.locked(SAVE, token) for token in await self._many(POOL_FOR_UPDATE)]

    async def save(self, token: ReplicateToken) -> None:
        if not await self._session.update_row(SAVE, token, token_to_row(token)):
            await self.add(token)
            return
        self._session.events.collect(token)

    async def _one(
        self, statement: RowsSelect, parameters: dict[str, object]
    ) -> ReplicateToken | None:
        row = (await self._session.execute(statement, parameters)).mappings().first()
        return token_from_row(row) if row is not None else None

    async def _many(self, statement: RowsSelect) -> list[ReplicateToken]:
        return [token_from_row(row) for row in (await self._session.execute(statement)).mappings()]
