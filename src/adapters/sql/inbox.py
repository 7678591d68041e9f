"""Webhook bookkeeping: deliveries seen, and updates parked until their prediction is known."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.mappers import Row
from adapters.sql.schema import generations, parked_updates, webhook_deliveries
from adapters.sql.session import Session
from base_core.generation import PredictionUpdate, Trigger

p = parked_updates
# Built once: executed with a row as its parameters, the INSERT names exactly the row's
# columns (`seq` is left to the database), as `.values(row)` would.
PARK = sa.insert(p)
# One DELETE ... RETURNING: two takers cannot both get the same update.
TAKE = sa.delete(p).where(p.c.prediction_id == sa.bindparam("prediction_id")).returning(*p.columns)
UNCLAIMED = (
    sa.select(p.c.prediction_id)
    .where(
        p.c.parked_at < sa.bindparam("before"),
        ~sa.exists().where(generations.c.prediction_id == p.c.prediction_id),
    )
    .group_by(p.c.prediction_id)
    .order_by(sa.func.min(p.c.seq))
    .limit(sa.bindparam("limit"))
)

# The `status` column holds the core's trigger (migration 0005 rewrote older rows).


def update_to_row(update: PredictionUpdate, parked_at: datetime) -> dict[str, Any]:
    return {
        "prediction_id": update.prediction_id,
        "status": update.trigger.value,
        "output": list(update.output) if update.output is not None else None,
        "error": update.error,
        "predict_time": update.predict_time,
        "completed_at": update.completed_at,
        "parked_at": parked_at,
    }


def update_from_row(row: Row) -> PredictionUpdate:
    output = row["output"]
    return PredictionUpdate(
        prediction_id=row["prediction_id"],
        trigger=Trigger(row["status"]),
        output=tuple(str(url) for url in output) if output is not None else None,
        error=row["error"],
        predict_time=row["predict_time"],
        completed_at=row["completed_at"],
    )


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

    async def unclaimed(self, parked_before: datetime, limit: int) -> list[str]:
        result = await self._session.execute(UNCLAIMED, {"before": parked_before, "limit": limit})
        return [row[0] for row in result]
