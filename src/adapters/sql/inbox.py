"""Webhook bookkeeping: deliveries seen, and updates parked until their prediction is known."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.sql.mappers import update_from_row, update_to_row
from adapters.sql.schema import parked_updates, webhook_deliveries
from adapters.sql.session import Session
from base_core.generation import PredictionUpdate

p = parked_updates
# Built once: executed with a row as its parameters, the INSERT names exactly the row's
# columns (`seq` is left to the database), as `.values(row)` would.
PARK = sa.insert(p)
# One DELETE ... RETURNING: two takers cannot both get the same update.
TAKE = sa.delete(p).where(p.c.prediction_id == sa.bindparam("prediction_id")).returning(*p.columns)


class SqlUpdateInbox:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def mark_delivered(self, delivery_id: str, now: datetime) -> bool:
        # A concurrent duplicate waits on the key and then inserts nothing.
        return await self._session.insert_new(
            webhook_deliveries, {"delivery_id": delivery_id, "received_at": now}
        )

    async def park(self, update: PredictionUpdate, now: datetime) -> None:
        await self._session.execute(PARK, update_to_row(update, now))

    async def take(self, prediction_id: str) -> list[PredictionUpdate]:
        result = await self._session.execute(TAKE, {"prediction_id": prediction_id})
        rows = sorted(result.mappings(), key=lambda row: row["seq"])
        return [update_from_row(row) for row in rows]
