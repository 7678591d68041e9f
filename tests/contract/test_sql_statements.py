"""The SQL adapter's hot statements, prepared once at import with bound parameters.

They keep the rules they carry (the conditional balance update, a hold resolved once,
save inserting what is not stored yet), and a warm call builds no expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.sql import coercions

from adapters.sql import SqlDatabase
from adapters.sql.schema import users
from base_core.errors import Conflict
from base_core.generation import Failure, PredictionUpdate, Status, Trigger
from base_core.ledger import CreditAccount, HoldState
from base_core.packs import CreditPack
from base_core.purchases import Provider, Purchase

POSTGRES_ONLY = pytest.mark.parametrize(
    "sql_db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@POSTGRES_ONLY
async def test_a_writer_without_the_lock_loses_no_credits(sql_db: SqlDatabase, build) -> None:
    """A save writes the change since its read: a commit in between is kept, not overwritten."""
    await build.user_with_credits(sql_db, "user-1", credits=10)
    async with sql_db() as slow:
        account = await slow.ledger.account("user-1")  # no row lock
        async with sql_db() as fast:
            other = await fast.ledger.account_for_update("user-1")
            other, entry = other.grant(5, "grant:fast", build.at(1))
            await fast.ledger.post(other, entry)
            await fast.commit()
        account, entry = account.grant(3, "grant:slow", build.at(2))
        await slow.ledger.post(account, entry)
        await slow.commit()
    async with sql_db() as uow:
        assert (await uow.ledger.account("user-1")).balance == 18


@POSTGRES_ONLY
async def test_a_writer_without_the_lock_cannot_spend_what_is_gone(sql_db: SqlDatabase, build) -> None:
    await build.user_with_credits(sql_db, "user-1", credits=10)
    async with sql_db() as slow:
        account = await slow.ledger.account("user-1")
        async with sql_db() as fast:
            other = await fast.ledger.account_for_update("user-1")
            other = attrs.evolve(other, balance=other.balance - 8)
            await fast.ledger.save_account(other)
            await fast.commit()
        # 10 - 5 as this unit of work saw it; 2 - 5 in the database
        account = attrs.evolve(account, balance=account.balance - 5)
        with pytest.raises(Conflict):
            await slow.ledger.save_account(account)
    async with sql_db() as uow:
        assert (await uow.ledger.account("user-1")).balance == 2


async def test_an_account_saved_before_it_was_read_takes_the_given_balance(sql_db, build) -> None:
    await build.user_with_credits(sql_db, "user-1", credits=10)
    async with sql_db() as uow:
        await uow.ledger.save_account(CreditAccount("user-1", 7))  # nothing seen: as given
        await uow.commit()
    async with sql_db() as uow:
        assert (await uow.ledger.account("user-1")).balance == 7


async def test_repeating_a_resolution_is_allowed_and_changing_it_is_not(sql_db, build) -> None:
    await build.user_with_credits(sql_db, "user-1", credits=10)
    await build.pending_hold(sql_db, 4)
    async with sql_db() as uow:
        hold = await uow.ledger.hold_for_update("hold:g1")
        account = await uow.ledger.account_for_update("user-1")
        account, hold, entry = account.void(hold, build.at(2))
        await uow.ledger.post(account, entry, hold)
        # The same resolution again (under another entry key): no change, no error.
        await uow.ledger.post(account, attrs.evolve(entry, key="void:again", amount=0), hold)
        await uow.commit()
    async with sql_db() as uow:
        stored = await uow.ledger.hold_for_update("hold:g1")
        assert (stored.state, stored.resolved_at) == (HoldState.VOIDED, build.at(2))
        account = await uow.ledger.account_for_update("user-1")
        with pytest.raises(Conflict):
            await uow.ledger.post(
                account, attrs.evolve(entry, key="settle:other", amount=0),
                attrs.evolve(stored, state=HoldState.SETTLED),
            )


async def test_save_stores_what_is_not_stored_yet(sql_db, build) -> None:
    await build.user_with_credits(sql_db, "user-1")
    token = build.token("tok-1", "r8_secret_1", request_count=4)
    generation = build.generation("gen-1", status=Status.PROCESSING, prediction_id="p-1")
    async with sql_db() as uow:
        await uow.tokens.save(token)
        await uow.generations.save(generation)
        await uow.users.save(build.user("user-2", telegram_id=42))
        await uow.commit()
    async with sql_db() as uow:
        assert await uow.tokens.get("tok-1") == token
        assert await uow.generations.get_by_prediction_for_update("p-1") == generation
        assert (await uow.users.get_by_telegram_id(42)).id == "user-2"


@pytest.fixture
def expressions_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many times SQLAlchemy coerced an argument into an expression: building any
    statement does, running a prebuilt one does not."""
    count = [0]
    expect = coercions.expect

    def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return expect(*args, **kwargs)

    monkeypatch.setattr(coercions, "expect", counting)
    yield count


async def hot_calls(db: SqlDatabase, build, n: int) -> None:
    """Every hot repository call once, on fresh keys `n`."""
    user_id, generation_id, prediction_id = f"u{n}", f"g{n}", f"p{n}"
    async with db() as uow:
        await uow.users.add(build.user(user_id, telegram_id=1000 + n))
        user = await uow.users.get(user_id)
        await uow.users.get_by_telegram_id(1000 + n)
        await uow.users.save(user)
        account = CreditAccount(user_id)
        await uow.ledger.add_account(account)
        account, entry = account.grant(10, f"grant:{user_id}", build.at(n))
        await uow.ledger.post(account, entry)
        account = await uow.ledger.account_for_update(user_id)
        account, hold, entry = account.hold(2, f"hold:{generation_id}", build.at(n))
        await uow.ledger.post(account, entry, hold)
        await uow.tokens.add(build.token(f"t{n}", f"r8_secret_{n}"))
        await uow.tokens.all()
        [token, *_] = await uow.tokens.all_for_update()
        await uow.tokens.save(token)
        await uow.tokens.get(token.id)
        await uow.tokens.get_by_secret(token.secret)
        token = await uow.tokens.get_for_update(token.id)
        await uow.generations.add(build.generation(generation_id, user_id, idempotency_key="k"))
        await uow.generations.get_by_idempotency_key(user_id, "k")
        await uow.generations.count_in_flight(user_id)
        generation = await uow.generations.get_for_update(generation_id)
        generation = generation.submitted(prediction_id, token.id, build.at(n))
        await uow.generations.save(generation)
        await uow.inbox.park(PredictionUpdate(f"early{n}", Trigger.PROGRESS), build.at(n))
        await uow.inbox.take(f"early{n}")
        await uow.commit()
    async with db() as uow:
        assert await uow.inbox.mark_delivered(f"d{n}", build.at(n))
        generation = await uow.generations.get_by_prediction_for_update(prediction_id)
        hold = await uow.ledger.hold_for_update(f"hold:{generation_id}")
        account = await uow.ledger.account_for_update(user_id)
        account, hold, entry = account.settle(hold, build.at(n))
        await uow.ledger.post(account, entry, hold)
        await uow.generations.save(generation)
        await uow.ledger.account(user_id)
        await uow.ledger.entry(f"grant:{user_id}")
        await uow.ledger.entries(user_id)
        await uow.commit()


async def test_a_warm_hot_call_builds_no_statement(sql_db, build, expressions_built) -> None:
    await hot_calls(sql_db, build, 1)
    sa.select(users).where(users.c.id == "someone")
    assert expressions_built[0] > 0  # building a statement is counted
    expressions_built[0] = 0
    await hot_calls(sql_db, build, 2)
    assert expressions_built[0] == 0


@pytest.fixture
def updates(sql_db: SqlDatabase) -> Iterator[list[str]]:
    """The UPDATE statements sent to the database, as SQL text."""
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            sent.append(statement)

    engine = sql_db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", note)
    yield sent
    sa.event.remove(engine, "before_cursor_execute", note)


def set_columns(statement: str) -> set[str]:
    """The columns an UPDATE sets (its SET clause, up to WHERE)."""
    clause = statement.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return {part.split("=", 1)[0].strip() for part in clause.split(", ")}


async def stored_generation(sql_db: SqlDatabase, build, **fields: Any) -> None:
    await build.user_with_credits(sql_db, "user-1")
    async with sql_db() as uow:
        await uow.generations.add(build.generation("gen-1", **fields))
        await uow.commit()


async def test_a_save_after_a_locked_read_sends_only_the_changed_columns(sql_db, build, updates) -> None:
    await stored_generation(sql_db, build)
    async with sql_db() as uow:
        generation = await uow.generations.get_for_update("gen-1")
        submitted = generation.submitted("p-1", "tok-1", build.at(5))
        saved = await uow.generations.save(submitted)
        failed = await uow.generations.save(saved.advance(Failure("boom"), build.at(6)))
        await uow.commit()
    assert [set_columns(s) for s in updates] == [
        {"status", "prediction_id", "token_id", "updated_at", "version"},
        {"status", "error_message", "completed_at", "updated_at", "version"},
    ]
    async with sql_db() as uow:
        assert await uow.generations.get("gen-1") == failed


async def test_saving_what_a_locked_read_gave_sends_nothing(sql_db, build, updates) -> None:
    await stored_generation(sql_db, build)
    async with sql_db() as uow:
        generation = await uow.generations.get_for_update("gen-1")
        assert await uow.generations.save(generation) == generation
        await uow.commit()
    assert updates == []


async def test_a_save_without_a_locked_read_writes_every_column(sql_db, build, updates) -> None:
    await stored_generation(sql_db, build)
    async with sql_db() as uow:
        generation = await uow.generations.get("gen-1")  # no lock: nothing is known of the row
        await uow.generations.save(generation.submitted("p-1", "tok-1", build.at(5)))
        await uow.commit()
    async with sql_db() as uow:
        generation = await uow.generations.get_for_update("gen-1")
        await uow.rollback()  # the lock is gone with the transaction
        ended = await uow.generations.save(generation.advance(Failure("boom"), build.at(6)))
        await uow.commit()
    assert len(updates) == 2
    assert all({"prompt", "settings", "replicate_input", "cost"} <= set_columns(s) for s in updates)
    async with sql_db() as uow:
        assert await uow.generations.get("gen-1") == ended


async def test_a_locked_generation_cannot_take_another_ones_prediction(sql_db, build) -> None:
    await stored_generation(sql_db, build, status=Status.PROCESSING, prediction_id="p-1")
    async with sql_db() as uow:
        await uow.generations.add(build.generation("gen-2"))
        await uow.commit()
    async with sql_db() as uow:
        generation = await uow.generations.get_for_update("gen-2")
        with pytest.raises(Conflict):
            await uow.generations.save(generation.submitted("p-1", "tok-1", build.at(5)))
        # The refused write left the transaction usable.
        await uow.generations.save(generation.submitted("p-2", "tok-1", build.at(5)))
        await uow.commit()
    async with sql_db() as uow:
        assert (await uow.generations.get("gen-2")).prediction_id == "p-2"


async def test_a_locked_token_and_purchase_send_only_their_changes(sql_db, build, updates) -> None:
    await build.user_with_credits(sql_db, "user-1")
    pack = CreditPack("starter", "Starter", credits=100, stars=50)
    async with sql_db() as uow:
        await uow.tokens.add(build.token("tok-1", "r8_secret_1"))
        await uow.purchases.add(Purchase.start("pur-1", "user-1", pack, Provider.TELEGRAM, build.at(1)))
        await uow.commit()
    async with sql_db() as uow:
        [token] = await uow.tokens.all_for_update()
        token = token.record_request(build.at(3))
        await uow.tokens.save(token)
        purchase = await uow.purchases.get_for_update("pur-1")
        purchase = purchase.checkout_opened("https://t.me/invoice/x", None, build.at(4))
        await uow.purchases.save(purchase)
        await uow.commit()
    assert [set_columns(s) for s in updates] == [
        {"request_count", "last_used_at"}, {"checkout_url", "updated_at"}
    ]
    async with sql_db() as uow:
        assert await uow.tokens.get("tok-1") == token
        assert await uow.purchases.get("pur-1") == purchase
