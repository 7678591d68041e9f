"""LedgerRepository: accounts, append-only entries and holds, on every backend."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from base_core.errors import Conflict
from base_core.ledger import CreditAccount, EntryKind, HoldState, LedgerEntry


async def test_an_account_keeps_its_balance(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=25)
    async with uow_factory() as uow:
        assert await uow.ledger.account("user-1") == CreditAccount("user-1", 25)
        assert await uow.ledger.account_for_update("user-1") == CreditAccount("user-1", 25)
        assert await uow.ledger.account("nobody") is None
        assert await uow.ledger.account_for_update("nobody") is None


async def test_an_account_is_added_once(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1")
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.ledger.add_account(CreditAccount("user-1", 5))


async def test_entries_come_back_oldest_first_with_every_field(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=10)
    async with uow_factory() as uow:
        account = await uow.ledger.account_for_update("user-1")
        account, hold, hold_entry = account.hold(4, "hold:g1", build.at(1))
        await uow.ledger.post(account, hold_entry, hold)
        account, adjust = account.adjust(-2, "adjust:1", build.at(2), "refund «ручной»")
        await uow.ledger.post(account, adjust)
        await uow.commit()
    async with uow_factory() as uow:
        entries = await uow.ledger.entries("user-1")
        assert [e.key for e in entries] == ["grant:user-1", "hold:g1", "adjust:1"]
        assert entries[1] == hold_entry and entries[1].hold_key == "hold:g1"
        assert entries[2].reason == "refund «ручной»" and entries[2].created_at == build.at(2)
        assert await uow.ledger.entry("adjust:1") == adjust
        assert await uow.ledger.entry("missing") is None
        assert sum(e.amount for e in entries) == (await uow.ledger.account("user-1")).balance == 4


async def test_an_entry_key_is_used_once(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=10)
    async with uow_factory() as uow:
        account = await uow.ledger.account_for_update("user-1")
        with pytest.raises(Conflict):
            await uow.ledger.post(*account.grant(1, "grant:user-1", build.at(1)))
    async with uow_factory() as uow:
        assert (await uow.ledger.account("user-1")).balance == 10
        assert [e.amount for e in await uow.ledger.entries("user-1")] == [10]


async def test_append_new_inserts_once_and_reports_whether_it_did(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=10)
    async with uow_factory() as uow:
        account = await uow.ledger.account_for_update("user-1")
        _, first = account.grant(3, "grant:once", build.at(1), "first")
        _, again = account.grant(7, "grant:once", build.at(2), "second")
        assert await uow.ledger.append_new(first) is True
        assert await uow.ledger.append_new(again) is False  # the key is taken: nothing changes
        assert await uow.ledger.append_new(account.grant(1, "grant:user-1", build.at(3))[1]) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.ledger.entry("grant:once") == first
        assert [e.key for e in await uow.ledger.entries("user-1")] == ["grant:user-1", "grant:once"]


async def test_append_new_is_undone_with_its_unit_of_work(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=10)
    async with uow_factory() as uow:
        account = await uow.ledger.account_for_update("user-1")
        assert await uow.ledger.append_new(account.grant(3, "grant:dropped", build.at(1))[1]) is True
        await uow.rollback()
    async with uow_factory() as uow:
        assert await uow.ledger.entry("grant:dropped") is None


async def test_a_balance_never_goes_below_zero(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=3)
    async with uow_factory() as uow:
        account = await uow.ledger.account_for_update("user-1")
        _, entry = account.grant(1, "grant:more", build.at(1))
        below = attrs.evolve(account, balance=-1)  # what a buggy caller might do
        with pytest.raises(Conflict):
            await uow.ledger.save_account(below)
        with pytest.raises(Conflict):
            await uow.ledger.post(below, entry)
    async with uow_factory() as uow:
        assert (await uow.ledger.account("user-1")).balance == 3
        assert await uow.ledger.entry("grant:more") is None


async def test_a_hold_round_trips_and_resolves_once(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=10)
    hold = await build.pending_hold(uow_factory, 6)
    async with uow_factory() as uow:
        stored = await uow.ledger.hold_for_update("hold:g1")
        assert stored == hold and stored.state is HoldState.PENDING
        account = await uow.ledger.account_for_update("user-1")
        account, resolved, settle = account.settle(stored, build.at(2), charge=4)
        await uow.ledger.post(account, settle, resolved)
        await uow.commit()
    async with uow_factory() as uow:
        settled = await uow.ledger.hold_for_update("hold:g1")
        assert (settled.state, settled.resolved_at) == (HoldState.SETTLED, build.at(2))
        assert (await uow.ledger.account("user-1")).balance == 6
        assert (await uow.ledger.entry("settle:hold:g1")).kind is EntryKind.SETTLE
        account = await uow.ledger.account_for_update("user-1")
        # A second resolution is refused by the entry key, and by the state under another key.
        pending = attrs.evolve(settled, state=HoldState.PENDING, resolved_at=None)
        again, voided, void = account.void(pending, build.at(3))
        with pytest.raises(Conflict):
            await uow.ledger.post(again, void, voided)
        other = LedgerEntry("void:again", "user-1", EntryKind.VOID, 6, build.at(3), hold_key="hold:g1")
        with pytest.raises(Conflict):
            await uow.ledger.post(again, other, voided)
        with pytest.raises(Conflict):
            await uow.ledger.post(again, attrs.evolve(other, key="pending:again"), pending)
        with pytest.raises(Conflict):
            await uow.ledger.post(
                account,
                LedgerEntry("settle:hold:g1", "user-1", EntryKind.SETTLE, 2, build.at(3), hold_key="hold:g1"),
            )
    async with uow_factory() as uow:
        assert (await uow.ledger.hold_for_update("hold:g1")).state is HoldState.SETTLED
        assert (await uow.ledger.account("user-1")).balance == 6
        assert await uow.ledger.entry("void:again") is None


async def test_a_hold_key_is_used_once(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=10)
    async with uow_factory() as uow:
        account = await uow.ledger.account_for_update("user-1")
        account, hold, entry = account.hold(1, "hold:g1", build.at(1))
        await uow.ledger.post(account, entry, hold)
        await uow.commit()
    async with uow_factory() as uow:  # a Conflict: the unit of work ends without its commit
        account = await uow.ledger.account_for_update("user-1")
        again, _, other = account.hold(1, "hold:g1", build.at(2))
        with pytest.raises(Conflict):
            await uow.ledger.post(again, attrs.evolve(other, key="hold:other"), hold)
    async with uow_factory() as uow:
        assert (await uow.ledger.account("user-1")).balance == 9
        assert await uow.ledger.entry("hold:other") is None


async def test_expired_holds_are_the_pending_ones_past_their_time_oldest_first(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=100)
    async with uow_factory() as uow:
        account = await uow.ledger.account_for_update("user-1")
        for key, created, ttl in [("h-late", 0, 300), ("h-early", 10, 60), ("h-mid", 0, 120), ("h-future", 0, 9999)]:
            account, hold, entry = account.hold(1, key, build.at(created), ttl=timedelta(seconds=ttl))
            await uow.ledger.post(account, entry, hold)
        account, done, entry = account.hold(1, "h-done", build.at(0), ttl=timedelta(seconds=1))
        await uow.ledger.post(account, entry, done)
        account, done, void = account.void(done, build.at(1))
        await uow.ledger.post(account, void, done)
        await uow.commit()
    async with uow_factory() as uow:
        now = build.at(400)
        assert [h.key for h in await uow.ledger.expired_holds(now, 10)] == ["h-early", "h-mid", "h-late"]
        assert [h.key for h in await uow.ledger.expired_holds(now, 2)] == ["h-early", "h-mid"]
        assert [h.key for h in await uow.ledger.expired_holds(build.at(70), 10)] == ["h-early"]
        assert await uow.ledger.expired_holds(build.at(0), 10) == []


async def test_entries_of_users_do_not_mix(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1", credits=1)
    await build.user_with_credits(uow_factory, "user-2", credits=2)
    async with uow_factory() as uow:
        assert [e.amount for e in await uow.ledger.entries("user-2")] == [2]
        assert await uow.ledger.entries("nobody") == []
