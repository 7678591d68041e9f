"""Every mapper round-trips: domain -> row -> domain, in memory and through each database.

Strategies use non-empty lists and dicts, unicode, None fields and aware datetimes in
assorted time zones (the adapter hands back UTC; aware datetimes compare by instant).
PostgreSQL text cannot hold NUL, so strings leave it out.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sql import SqlDatabase
from adapters.sql import mappers as m
from base_core.generation import Generation, PredictionUpdate, Status
from base_core.ledger import CreditAccount, EntryKind, Hold, HoldState, LedgerEntry
from base_core.registry import Action
from base_core.tokens import ReplicateToken
from base_core.users import User

texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
some_texts = texts.filter(bool)
ids = st.uuids().map(str)
zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=zones
)
counts = st.integers(0, 2**62)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, min_size=1, max_size=3) | st.dictionaries(texts, inner, min_size=1, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(texts, json_values, min_size=1, max_size=5)

users = st.builds(
    User, id=ids, created_at=moments, telegram_id=st.none() | st.integers(1, 2**62),
    telegram_username=st.none() | texts, telegram_first_name=st.none() | texts, email=st.none() | texts,
)
accounts = st.builds(CreditAccount, user_id=ids, balance=counts)
entries = st.builds(
    LedgerEntry, key=some_texts, user_id=ids, kind=st.sampled_from(EntryKind),
    amount=st.integers(-(2**62), 2**62), created_at=moments, hold_key=st.none() | texts, reason=texts,
)
holds = st.builds(
    Hold, key=some_texts, user_id=ids, amount=counts, state=st.sampled_from(HoldState),
    created_at=moments, expires_at=moments, resolved_at=st.none() | moments,
)
generations = st.builds(
    Generation, id=ids, user_id=ids, action=st.sampled_from(Action), model_id=texts, model_name=texts,
    prompt=st.none() | texts, input_image_url=st.none() | texts, settings=json_objects,
    replicate_input=json_objects, cost=counts, created_at=moments, updated_at=moments,
    status=st.sampled_from(Status), prediction_id=st.none() | ids, token_id=st.none() | texts,
    output_urls=st.none() | st.lists(texts, min_size=1, max_size=4), error_message=st.none() | texts,
    processing_time_ms=st.none() | counts, completed_at=st.none() | moments,
    deleted_at=st.none() | moments, idempotency_key=st.none() | texts,
    request_fingerprint=st.none() | texts,
    source_urls=st.none() | st.lists(texts, min_size=1, max_size=4),
    outputs_kept_at=st.none() | moments, next_check_at=st.none() | moments,
)
tokens = st.builds(
    ReplicateToken, id=ids, label=texts, secret=some_texts, created_at=moments, is_active=st.booleans(),
    request_count=counts, error_count=counts, last_used_at=st.none() | moments,
    cooldown_until=st.none() | moments, consecutive_failures=st.integers(0, 2**31 - 1),
    disabled_reason=st.none() | texts,
)
updates = st.builds(
    PredictionUpdate, prediction_id=some_texts, status=texts,
    output=st.none() | st.lists(texts, min_size=1, max_size=4).map(tuple), error=st.none() | texts,
    predict_time=st.none() | st.floats(0, 1e6, allow_nan=False), completed_at=st.none() | moments,
)

PAIRS: dict[str, tuple[st.SearchStrategy[Any], Callable[..., Any], Callable[..., Any]]] = {
    "user": (users, m.user_to_row, m.user_from_row),
    "account": (accounts, m.account_to_row, m.account_from_row),
    "entry": (entries, m.entry_to_row, m.entry_from_row),
    "hold": (holds, m.hold_to_row, m.hold_from_row),
    "generation": (generations, m.generation_to_row, m.generation_from_row),
    "token": (tokens, m.token_to_row, m.token_from_row),
}


def assert_same(a: Any, b: Any) -> None:
    assert a == b
    # attrs equality skips eq=False fields (an entry's created_at): compare every field.
    for field in type(a).__attrs_attrs__:
        assert getattr(a, field.name) == getattr(b, field.name), field.name


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_mapper_round_trips_in_memory(name: str) -> None:
    strategy, to_row, from_row = PAIRS[name]

    @given(strategy)
    def check(obj: Any) -> None:
        assert_same(from_row(to_row(obj)), obj)

    check()


@given(updates, moments)
def test_parked_update_mapper_round_trips_in_memory(update: PredictionUpdate, now: datetime) -> None:
    assert m.update_from_row(m.update_to_row(update, now)) == update


# Through the databases: one migrated database per backend for the whole module, a loop
# runner to drive it from Hypothesis' synchronous examples.


class Store:
    def __init__(self, runner: asyncio.Runner, db: SqlDatabase) -> None:
        self.runner = runner
        self.db = db

    def run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    import os

    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    with asyncio.Runner() as runner:
        if request.param == "sqlite":
            path = tmp_path_factory.mktemp("mappers") / "mappers.db"
            db = SqlDatabase.from_url(f"sqlite+aiosqlite:///{path}")
            runner.run(db.migrate())
            yield Store(runner, db)
            runner.run(db.dispose())
            return
        url = os.environ.get("BASE_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("BASE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
        schema = f"test_{uuid.uuid4().hex[:16]}"
        admin = create_async_engine(url, poolclass=NullPool)

        async def ddl(sql: str) -> None:
            async with admin.begin() as connection:
                await connection.execute(sa.text(sql))

        runner.run(ddl(f'CREATE SCHEMA "{schema}"'))
        db = SqlDatabase.from_url(url, schema=schema)
        try:
            runner.run(db.migrate())
            yield Store(runner, db)
        finally:
            runner.run(db.dispose())
            runner.run(ddl(f'DROP SCHEMA "{schema}" CASCADE'))
            runner.run(admin.dispose())


DB_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


async def _owner(uow: Any, user_id: str) -> None:
    """The user (and account) a row refers to, so foreign keys hold."""
    if await uow.users.get(user_id) is None:
        await uow.users.add(User(id=user_id, created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    if await uow.ledger.account(user_id) is None:
        await uow.ledger.add_account(CreditAccount(user_id))


@DB_SETTINGS
@given(user=users)
def test_users_round_trip_through_the_database(store: Store, user: User) -> None:
    async def run() -> User | None:
        async with store.db() as uow:
            await uow.users.add(user)
            return await uow.users.get(user.id)  # rolled back at the end

    assert_same(store.run(run()), user)


@DB_SETTINGS
@given(account=accounts, entry=entries, hold=holds)
def test_ledger_rows_round_trip_through_the_database(
    store: Store, account: CreditAccount, entry: LedgerEntry, hold: Hold
) -> None:
    entry = LedgerEntry(
        entry.key, account.user_id, entry.kind, entry.amount, entry.created_at, entry.hold_key, entry.reason
    )
    hold.user_id = account.user_id

    async def run() -> tuple[Any, Any, Any]:
        async with store.db() as uow:
            await uow.users.add(User(id=account.user_id, created_at=datetime(2025, 1, 1, tzinfo=UTC)))
            await uow.ledger.add_account(account)
            await uow.ledger.append(entry)
            await uow.ledger.add_hold(hold)
            return (
                await uow.ledger.account(account.user_id),
                await uow.ledger.entry(entry.key),
                await uow.ledger.hold_for_update(hold.key),
            )

    stored_account, stored_entry, stored_hold = store.run(run())
    assert_same(stored_account, account)
    assert_same(stored_entry, entry)
    assert_same(stored_hold, hold)


@DB_SETTINGS
@given(generation=generations)
def test_generations_round_trip_through_the_database(store: Store, generation: Generation) -> None:
    async def run() -> Generation | None:
        async with store.db() as uow:
            await _owner(uow, generation.user_id)
            await uow.generations.add(generation)
            return await uow.generations.get(generation.id)

    assert_same(store.run(run()), generation)


@DB_SETTINGS
@given(token=tokens)
def test_tokens_round_trip_through_the_database(store: Store, token: ReplicateToken) -> None:
    async def run() -> ReplicateToken | None:
        async with store.db() as uow:
            await uow.tokens.add(token)
            return await uow.tokens.get(token.id)

    assert_same(store.run(run()), token)


@DB_SETTINGS
@given(update=updates, now=moments)
def test_parked_updates_round_trip_through_the_database(
    store: Store, update: PredictionUpdate, now: datetime
) -> None:
    async def run() -> list[PredictionUpdate]:
        async with store.db() as uow:
            await uow.inbox.park(update, now)
            return await uow.inbox.take(update.prediction_id)

    assert store.run(run()) == [update]


@DB_SETTINGS
@given(moment=moments)
def test_timestamps_come_back_aware_utc(store: Store, moment: datetime) -> None:
    user = User(id="clock", created_at=moment)

    async def run() -> User | None:
        async with store.db() as uow:
            await uow.users.add(user)
            return await uow.users.get("clock")

    stored = store.run(run())
    assert stored.created_at == moment and stored.created_at.tzinfo is UTC
