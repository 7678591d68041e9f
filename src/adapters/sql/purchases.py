"""Purchases of credit packs, in the `purchases` table."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.sql.mappers import purchase_from_row, purchase_to_row
from adapters.sql.schema import purchases
from adapters.sql.session import RowUpdate, Session
from base_core.errors import Conflict
from base_core.purchases import Provider, Purchase, PurchaseQuery

p = purchases
BY_ID = sa.select(p).where(p.c.id == sa.bindparam("id"))
BY_ID_FOR_UPDATE = BY_ID.with_for_update()
BY_PAYMENT_FOR_UPDATE = (
    sa.select(p)
    .where(p.c.provider == sa.bindparam("provider"), p.c.payment_ref == sa.bindparam("payment_ref"))
    .order_by(p.c.created_at)
    .limit(1)
    .with_for_update()
)
SAVE = RowUpdate(p)


class SqlPurchaseRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, purchase: Purchase) -> None:
        if not await self._session.insert_new(purchases, purchase_to_row(purchase)):
            raise Conflict(f"purchase {purchase.id} exists")
        self._session.events.collect(purchase)

    async def get(self, purchase_id: str) -> Purchase | None:
        return await self._one(BY_ID, {"id": purchase_id})

    async def get_for_update(self, purchase_id: str) -> Purchase | None:
        return self._locked(await self._one(BY_ID_FOR_UPDATE, {"id": purchase_id}))

    async def get_by_payment_for_update(self, provider: Provider, payment_ref: str) -> Purchase | None:
        return self._locked(await self._one(
            BY_PAYMENT_FOR_UPDATE, {"provider": provider.value, "payment_ref": payment_ref}
        ))

    async def save(self, purchase: Purchase) -> None:
        if not await self._session.update_row(SAVE, purchase, purchase_to_row(purchase)):
            await self.add(purchase)
            return
        self._session.events.collect(purchase)

    async def find(self, query: PurchaseQuery) -> list[Purchase]:
        statement = sa.select(p)
        if query.status is not None:
            statement = statement.where(p.c.status == query.status.value)
        if query.user_id is not None:
            statement = statement.where(p.c.user_id == query.user_id)
        statement = statement.order_by(p.c.created_at.desc(), p.c.id.desc()).offset(query.offset).limit(query.limit)
        result = await self._session.execute(statement)
        return [purchase_from_row(row) for row in result.mappings()]

    def _locked(self, purchase: Purchase | None) -> Purchase | None:
        return self._session.locked(SAVE, purchase) if purchase is not None else None

    async def _one(self, statement: sa.Select[tuple[object, ...]], parameters: dict[str, object]) -> Purchase | None:
        row = (await self._session.execute(statement, parameters)).mappings().first()
        return purchase_from_row(row) if row is not None else None
