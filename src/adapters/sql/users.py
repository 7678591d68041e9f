"""Users, in the `users` table."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.sql.mappers import user_from_row, user_to_row
from adapters.sql.schema import users
from adapters.sql.session import Session
from base_core.errors import Conflict
from base_core.users import User


class SqlUserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, user_id: str) -> User | None:
        return await self._one(users.c.id == user_id)

    async def get_by_telegram_id(self, telegram_id: int) -> User | None:
        return await self._one(users.c.telegram_id == telegram_id)

    async def add(self, user: User) -> None:
        if not await self._session.insert_new(users, user_to_row(user)):
            raise Conflict(f"user {user.id} (telegram {user.telegram_id}) exists")

    async def save(self, user: User) -> None:
        row = user_to_row(user)
        result = await self._session.execute(
            sa.update(users).where(users.c.id == user.id).values(row)
        )
        if result.rowcount == 0:
            await self.add(user)

    async def _one(self, condition: sa.ColumnElement[bool]) -> User | None:
        result = await self._session.execute(sa.select(users).where(condition))
        row = result.mappings().first()
        return user_from_row(row) if row is not None else None
