"""Users, in the `users` table."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.sql.mappers import user_from_row, user_to_row
from adapters.sql.schema import users
from adapters.sql.session import RowsSelect, RowUpdate, Session
from base_core.errors import Conflict
from base_core.users import User

u = users
# Built once with bound parameters: building a statement per call costs more than running
# it from SQLAlchemy's compiled cache.
BY_ID = sa.select(u).where(u.c.id == sa.bindparam("id"))
BY_TELEGRAM_ID = sa.select(u).where(u.c.telegram_id == sa.bindparam("telegram_id"))
SAVE = RowUpdate(u)


class SqlUserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, user_id: str) -> User | None:
        return await self._one(BY_ID, {"id": user_id})

    async def get_by_telegram_id(self, telegram_id: int) -> User | None:
        return await self._one(BY_TELEGRAM_ID, {"telegram_id": telegram_id})

    async def add(self, user: User) -> None:
        if not await self._session.insert_new(users, user_to_row(user)):
            raise Conflict(f"user {user.id} (telegram {user.telegram_id}) exists")
        self._session.events.collect(user)

    async def save(self, user: User) -> None:
        if not await self._session.update_row(SAVE, user, user_to_row(user)):
            await self.add(user)
            return
        self._session.events.collect(user)

    async def _one(
        self, statement: RowsSelect, parameters: dict[str, object]
    ) -> User | None:
        result = await self._session.execute(statement, parameters)
        row = result.mappings().first()
        return user_from_row(row) if row is not None else None
