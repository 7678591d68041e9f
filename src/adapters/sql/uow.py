"""One unit of work: one pooled connection, one transaction at a time.

The transaction starts with the first statement (BEGIN IMMEDIATE on SQLite) and ends
with commit(), rollback() or the end of the `async with` block, which rolls back
whatever was not committed. After a commit the unit of work may go on; the next
statement opens a new transaction, as the in-memory store behaves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.errors import DRIVER_ERRORS, translated
from adapters.sql.files import SqlFileRepository
from adapters.sql.generations import SqlGenerationRepository
from adapters.sql.inbox import SqlUpdateInbox
from adapters.sql.ledger import SqlLedgerRepository
from adapters.sql.purchases import SqlPurchaseRepository
from adapters.sql.session import Session
from adapters.sql.tokens import SqlTokenRepository
from adapters.sql.users import SqlUserRepository
from base_core.events import DomainEvent
from base_core.ports import (
    FileRepository,
    GenerationRepository,
    LedgerRepository,
    PurchaseRepository,
    TokenRepository,
    UpdateInbox,
    UserRepository,
)

log = logging.getLogger(__name__)


# Called with the connection and the events a commit is about to keep, inside its
# transaction (PostgreSQL's NOTIFY of the live feed: delivered at the commit, and only if it
# succeeds). A failure fails the commit.
BeforeCommit = Callable[[AsyncConnection, Sequence[DomainEvent]], Awaitable[None]]


class SqlUnitOfWork:
    def __init__(self, engine: AsyncEngine, before_commit: BeforeCommit | None = None) -> None:
        self._engine = engine
        self._before_commit = before_commit
        self._session = Session(engine.dialect.name)
        self._entered = False
        self._ledger = SqlLedgerRepository(self._session)
        # Typed as the ports: the UnitOfWork protocol declares plain (settable) attributes.
        self.users: UserRepository = SqlUserRepository(self._session)
        self.ledger: LedgerRepository = self._ledger
        self.generations: GenerationRepository = SqlGenerationRepository(self._session)
        self.tokens: TokenRepository = SqlTokenRepository(self._session)
        self.inbox: UpdateInbox = SqlUpdateInbox(self._session)
        self.purchases: PurchaseRepository = SqlPurchaseRepository(self._session)
        self.files: FileRepository = SqlFileRepository(self._session)

    @property
    def connection(self) -> AsyncConnection:
        """The open connection, for diagnostics and the adapter's own tests."""
        if self._session.connection is None:
            raise RuntimeError("the unit of work is not open")
        return self._session.connection

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._entered:
            raise RuntimeError("a unit of work can be entered only once")
        self._entered = True
        with translated():
            self._session.connection = await self._engine.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._session.connection = self._session.connection, None
        self._session.events.rollback()  # whatever was not committed
        if connection is None:
            return
        try:
            await connection.rollback()
        except DRIVER_ERRORS + (ValueError,):
            # The connection is gone (and with it the transaction); never hand it out again.
            log.warning("rollback failed; discarding the connection", exc_info=True)
            await _invalidate(connection)
        finally:
            try:
                await connection.close()
            except DRIVER_ERRORS + (ValueError,):
                log.warning("closing a connection failed", exc_info=True)

    async def commit(self) -> None:
        connection = self.connection
        try:
            with translated():
                if self._before_commit is not None:
                    pending = self._session.events.pending
                    if pending:
                        await self._before_commit(connection, pending)
                await connection.commit()
        except BaseException:
            self._ledger.forget()
            self._session.forget()
            self._session.events.rollback()
            raise
        self._session.forget()
        self._session.events.commit()

    async def rollback(self) -> None:
        connection = self.connection
        self._ledger.forget()
        self._session.forget()
        self._session.events.rollback()
        with translated():
            await connection.rollback()

    def collect_events(self) -> list[DomainEvent]:
        return self._session.events.take()


async def _invalidate(connection: AsyncConnection) -> None:
    try:
        await connection.invalidate()
    except DRIVER_ERRORS + (ValueError,):
        log.warning("invalidating a connection failed", exc_info=True)
