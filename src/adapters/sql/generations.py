"""Generations, in the `generations` table."""

from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa

from adapters.sql.mappers import generation_from_row, generation_to_row
from adapters.sql.schema import IN_FLIGHT_SQL, NOT_DELETED_SQL, OUTPUTS_TO_KEEP_SQL, generations
from adapters.sql.session import RowsSelect, RowUpdate, Session
from base_core.errors import Conflict
from base_core.generation import CheckQuery, Generation, GenerationPage, GenerationQuery

g = generations
# Literal SQL, not bound parameters, so PostgreSQL can match the partial indexes.
IN_FLIGHT = sa.text(IN_FLIGHT_SQL)
NOT_DELETED = sa.text(NOT_DELETED_SQL)

# The hot reads, built once with bound parameters: building a statement costs more than
# running it from SQLAlchemy's compiled cache.
BY_ID = sa.select(g).where(g.c.id == sa.bindparam("id"))
BY_ID_FOR_UPDATE = BY_ID.with_for_update()
BY_PREDICTION_FOR_UPDATE = (
    sa.select(g).where(g.c.prediction_id == sa.bindparam("prediction_id")).with_for_update()
)
BY_IDEMPOTENCY_KEY = sa.select(g).where(
    g.c.user_id == sa.bindparam("user_id"), g.c.idempotency_key == sa.bindparam("key")
)
PREDICTION_TAKEN = sa.select(g.c.id).where(
    g.c.prediction_id == sa.bindparam("prediction_id"), g.c.id != sa.bindparam("id")
)
COUNT_IN_FLIGHT = (
    sa.select(sa.func.count())
    .select_from(g)
    .where(g.c.user_id == sa.bindparam("user_id"), IN_FLIGHT)
)
CHANGED_SINCE = (
    sa.select(g)
    .where(g.c.user_id == sa.bindparam("user_id"), g.c.updated_at >= sa.bindparam("since"))
    .order_by(g.c.updated_at, g.c.id)
    .limit(sa.bindparam("limit"))
)
SAVE = RowUpdate(g, unique="prediction_id")


@functools.cache
def _page_statements(
    by_action: bool, by_status: bool
) -> tuple[sa.Select[int], RowsSelect]:
    """count(*) and one page of a user's visible generations, optionally by action/status."""
    conditions: list[sa.ColumnExpressionArgument[bool]] = [
        g.c.user_id == sa.bindparam("user_id"), NOT_DELETED
    ]
    if by_action:
        conditions.append(g.c.action == sa.bindparam("action"))
    if by_status:
        conditions.append(g.c.status == sa.bindparam("status"))
    count = sa.select(sa.func.count()).select_from(g).where(*conditions)
    page = (
        sa.select(g)
        .where(*conditions)
        .order_by(g.c.created_at.desc(), g.c.id.desc())
        .offset(sa.bindparam("offset"))
        .limit(sa.bindparam("limit"))
    )
    return count, page


class SqlGenerationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, generation: Generation) -> None:
        if not await self._session.insert_new(g, generation_to_row(generation)):
            raise Conflict(
                f"generation {generation.id} exists, or its prediction or idempotency key is taken"
            )
        self._session.events.collect(generation)

    async def get(self, generation_id: str) -> Generation | None:
        return await self._one(BY_ID, {"id": generation_id})

    async def get_for_update(self, generation_id: str) -> Generation | None:
        return self._locked(await self._one(BY_ID_FOR_UPDATE, {"id": generation_id}))

    async def get_by_prediction_for_update(self, prediction_id: str) -> Generation | None:
        return self._locked(await self._one(BY_PREDICTION_FOR_UPDATE, {"prediction_id": prediction_id}))

    async def get_by_idempotency_key(self, user_id: str, key: str) -> Generation | None:
        return await self._one(BY_IDEMPOTENCY_KEY, {"user_id": user_id, "key": key})

    async def save(self, generation: Generation) -> Generation:
        # One statement on the common path: the update is written only if no other row has
        # this prediction, so the common mistake leaves the transaction usable.
        if await self._session.update_row(SAVE, generation, generation_to_row(generation)):
            self._session.events.collect(generation)
            return generation
        if generation.prediction_id is not None:
            taken = await self._session.execute(
                PREDICTION_TAKEN, {"prediction_id": generation.prediction_id, "id": generation.id}
            )
            if taken.first() is not None:
                raise Conflict(f"prediction {generation.prediction_id} belongs to another generation")
        await self.add(generation)
        return generation

    async def page(self, query: GenerationQuery) -> GenerationPage:
        count, page = _page_statements(query.action is not None, query.status is not None)
        parameters: dict[str, object] = {"user_id": query.user_id}
        if query.action is not None:
            parameters["action"] = query.action.value
        if query.status is not None:
            parameters["status"] = query.status.value
        total = (await self._session.execute(count, parameters)).scalar_one()
        items: list[Generation] = []
        if total > query.offset:
            parameters.update(offset=query.offset, limit=query.limit)
            result = await self._session.execute(page, parameters)
            items = [generation_from_row(row) for row in result.mappings()]
        return GenerationPage(items=items, total=total, page=query.page, limit=query.limit)

    async def count_in_flight(self, user_id: str) -> int:
        result = await self._session.execute(COUNT_IN_FLIGHT, {"user_id": user_id})
        return int(result.scalar_one())

    async def in_flight_updated_before(self, cutoff: datetime, limit: int) -> list[Generation]:
        result = await self._session.execute(
            sa.select(g)
            .where(IN_FLIGHT, g.c.updated_at < cutoff)
            .order_by(g.c.updated_at, g.c.id)
            .limit(limit)
        )
        return [generation_from_row(row) for row in result.mappings()]

    async def changed_since(self, user_id: str, since: datetime, limit: int) -> list[Generation]:
        result = await self._session.execute(
            CHANGED_SINCE, {"user_id": user_id, "since": since, "limit": limit}
        )
        return [generation_from_row(row) for row in result.mappings()]

    async def claim_for_check(self, query: CheckQuery) -> list[Generation]:
        wanted = [
            sa.and_(g.c.status == "pending", g.c.updated_at < query.pending_before),
            sa.and_(g.c.status == "processing", g.c.updated_at < query.processing_before),
        ]
        if query.outputs_since is not None:
            wanted.append(sa.and_(sa.text(OUTPUTS_TO_KEEP_SQL), g.c.completed_at >= query.outputs_since))
        # SKIP LOCKED: a row another process is claiming or updating right now is left to
        # it instead of waited for (PostgreSQL; SQLite's write transaction is exclusive).
        result = await self._session.execute(
            sa.select(g)
            .where(
                sa.or_(*wanted),
                sa.or_(g.c.next_check_at.is_(None), g.c.next_check_at <= query.now),
            )
            .order_by(g.c.updated_at, g.c.id)
            .limit(query.limit)
            .with_for_update(skip_locked=True)
        )
        claimed = [generation_from_row(row) for row in result.mappings()]
        if claimed:
            await self._session.execute(
                sa.update(g)
                .where(g.c.id.in_([c.id for c in claimed]))
                .values(next_check_at=query.lease_until)
            )
        return [generation.leased(query.lease_until) for generation in claimed]

    def _locked(self, generation: Generation | None) -> Generation | None:
        return self._session.locked(SAVE, generation) if generation is not None else None

    async def _one(
        self, statement: RowsSelect, parameters: dict[str, object] | None = None
    ) -> Generation | None:
        row = (await self._session.execute(statement, parameters)).mappings().first()
        return generation_from_row(row) if row is not None else None
