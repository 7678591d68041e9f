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
from enum import Enum
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sql import SqlDatabase, inbox, schema
from adapters.sql import mappers as m
from base_core.generation import Generation, PredictionUpdate, Status, Trigger
from base_core.ledger import CreditAccount, EntryKind, Hold, HoldState, LedgerEntry
from base_core.purchases import Provider, Purchase, PurchaseStatus
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
    purchase_id=st.none() | ids,
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
purchases = st.builds(
    Purchase, id=ids, user_id=ids, pack_id=some_texts, provider=st.sampled_from(Provider), credits=counts,
    amount=counts, currency=st.sampled_from(["XTR", "usd", "eur"]), status=st.sampled_from(PurchaseStatus),
    created_at=moments, updated_at=moments, checkout_ref=st.none() | texts, checkout_url=st.none() | texts,
    charge_id=st.none() | some_texts, payment_ref=st.none() | texts, payer_ref=st.none() | texts,
    paid_at=st.none() | moments, ended_at=st.none() | moments, credited=counts, deducted=counts,
    shortfall=counts, review_reason=st.none() | texts,
)
updates = st.builds(
    PredictionUpdate, prediction_id=some_texts, trigger=st.sampled_from(list(Trigger)),
    output=st.none() | st.lists(texts, min_size=1, max_size=4).map(tuple), error=st.none() | texts,
    predict_time=st.none() | st.floats(0, 1e6, allow_nan=False), completed_at=st.none() | moments,
)

TABLES = {
    "user": schema.users, "account": schema.credit_accounts, "entry": schema.ledger_entries,
    "hold": schema.credit_holds, "generation": schema.generations, "token": schema.replicate_tokens,
    "purchase": schema.purchases,
}

PAIRS: dict[str, tuple[st.SearchStrategy[Any], Callable[..., Any], Callable[..., Any]]] = {
    "user": (users, m.user_to_row, m.user_from_row),
    "account": (accounts, m.account_to_row, m.account_from_row),
    "entry": (entries, m.entry_to_row, m.entry_from_row),
    "hold": (holds, m.hold_to_row, m.hold_from_row),
    "generation": (generations, m.generation_to_row, m.generation_from_row),
    "token": (tokens, m.token_to_row, m.token_from_row),
    "purchase": (purchases, m.purchase_to_row, m.purchase_from_row),
}


def assert_same(a: Any, b: Any) -> None:
    assert a == b
    # attrs equality skips eq=False fields (an entry's created_at): compare every field,
    # and its type too (a StrEnum member equals its plain string, True equals 1).
    for field in type(a).__attrs_attrs__:
        mine, theirs = getattr(a, field.name), getattr(b, field.name)
        assert mine == theirs, field.name
        assert type(mine) is type(theirs), (field.name, type(mine), type(theirs))
        if isinstance(mine, (list, dict)):
            assert mine is not theirs, f"{field.name} is shared with the row"


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_mapper_round_trips_in_memory(name: str) -> None:
    strategy, to_row, from_row = PAIRS[name]

    @given(strategy)
    def check(obj: Any) -> None:
        assert_same(from_row(to_row(obj)), obj)

    check()


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_a_row_holds_plain_values_only(name: str) -> None:
    """Enums go in by value, JSON documents as copies that share nothing with the object."""
    strategy, to_row, _ = PAIRS[name]

    @given(strategy)
    def check(obj: Any) -> None:
        row = to_row(obj)
        for column, value in row.items():
            assert not isinstance(value, Enum), column
            if isinstance(value, (dict, list)):
                assert value is not getattr(obj, column), column

    check()


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_rows_carry_exactly_the_table_columns(name: str) -> None:
    strategy, to_row, _ = PAIRS[name]
    filled_by_database = {"id"} if name == "entry" else set()

    @settings(max_examples=5)
    @given(strategy)
    def check(obj: Any) -> None:
        assert set(to_row(obj)) == set(TABLES[name].c.keys()) - filled_by_database

    check()


def test_a_row_missing_a_column_fails_loudly() -> None:
    row = m.user_to_row(User(id="u", created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    del row["email"]
    with pytest.raises(KeyError):
        m.user_from_row(row)


def test_columns_beyond_the_fields_are_ignored_on_read() -> None:
    entry = LedgerEntry("k", "u", EntryKind.GRANT, 5, datetime(2025, 1, 1, tzinfo=UTC))
    assert_same(m.entry_from_row({**m.entry_to_row(entry), "id": 41}), entry)


# The mapper is checked against the table when it is built: a field renamed on one side
# only stops the import, a field the table does not know is not dropped quietly.

TABLE = sa.Table(
    "things", sa.MetaData(),
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("kind", sa.String),
    sa.Column("made_at", sa.DateTime),
    sa.Column("tags", sa.JSON),
)


@attrs.define
class Thing:
    id: str
    kind: Status
    made_at: datetime
    tags: list[str] | None = None
    events: tuple[Any, ...] = attrs.field(default=(), eq=False)


@attrs.define
class Renamed:
    id: str
    sort: Status
    made_at: datetime
    tags: list[str] | None = None


@attrs.define
class Unstored:
    id: str
    kind: Status
    made_at: datetime
    tags: list[str] | None = None
    colour: str | None = None


def test_a_field_renamed_on_one_side_fails_when_the_mapper_is_built() -> None:
    with pytest.raises(TypeError, match=r"columns without a field \['kind'\], fields without a column \['sort'\]"):
        m.row_mapper(Renamed, TABLE)


def test_a_field_without_a_column_fails_even_with_a_default() -> None:
    with pytest.raises(TypeError, match=r"fields without a column \['colour'\]"):
        m.row_mapper(Unstored, TABLE)


def test_recorded_events_are_neither_stored_nor_read() -> None:
    to_row, from_row = m.row_mapper(Thing, TABLE)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    thing = Thing("t", Status.PENDING, now, ["a"], events=("accepted",))
    row = to_row(thing)
    assert row == {"id": "t", "kind": "pending", "made_at": now, "tags": ["a"]}
    back = from_row(row)
    assert back == thing and back.events == () and type(back.kind) is Status


def test_a_bad_stored_value_is_refused_not_guessed() -> None:
    _, from_row = m.row_mapper(Thing, TABLE)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="expected one of"):
        from_row({"id": "t", "kind": "paused", "made_at": now, "tags": None})
    with pytest.raises(TypeError, match="expected a string"):
        from_row({"id": "t", "kind": "pending", "made_at": now, "tags": [1]})


@given(updates, moments)
def test_parked_update_mapper_round_trips_in_memory(update: PredictionUpdate, now: datetime) -> None:
    assert inbox.update_from_row(inbox.update_to_row(update, now)) == update


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
        entry.key, account.user_id, entry.kind, entry.amount, entry.created_at, entry.hold_key, entry.reason,
        entry.purchase_id,
    )
    hold = attrs.evolve(hold, user_id=account.user_id)

    async def run() -> tuple[Any, Any, Any]:
        async with store.db() as uow:
            await uow.users.add(User(id=account.user_id, created_at=datetime(2025, 1, 1, tzinfo=UTC)))
            await uow.ledger.add_account(account)
            await uow.ledger.post(account, entry, hold)
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
@given(purchase=purchases)
def test_purchases_round_trip_through_the_database(store: Store, purchase: Purchase) -> None:
    async def run() -> Purchase | None:
        async with store.db() as uow:
            await _owner(uow, purchase.user_id)
            await uow.purchases.add(purchase)
            return await uow.purchases.get(purchase.id)

    assert_same(store.run(run()), purchase)


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
