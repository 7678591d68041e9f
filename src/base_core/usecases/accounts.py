"""Users and their credits: sign-up on first sight, balances, grants and adjustments."""

from __future__ import annotations

import attrs

from base_core.errors import Conflict, InvalidRequest, NotFound
from base_core.ledger import CreditAccount, EntryKind, LedgerEntry, check_replay
from base_core.ports import UnitOfWork
from base_core.text import is_line
from base_core.usecases.context import Context
from base_core.users import TelegramProfile, User

# Limits of an operator's credit adjustment, shared with the HTTP layer's declarations.
MAX_ADJUSTMENT = 1_000_000_000
MAX_REASON_LENGTH = 500
MAX_USER_ID_LENGTH = 200


@attrs.frozen
class UserView:
    user: User
    credits: int


async def ensure_user(ctx: Context, user_id: str, email: str | None = None) -> UserView:
    """The user with this id, created with the initial credits when seen for the first time."""
    async with ctx.work() as uow:
        user = await uow.users.get(user_id)
        account = await uow.ledger.account(user_id) if user else None
        if user is not None and account is not None:
            return UserView(user, account.balance)
    return await _create_user(ctx, User.register(user_id, ctx.clock.now(), email=email))


async def sign_in_telegram(ctx: Context, profile: TelegramProfile) -> UserView:
    """Find or create the user behind a Telegram account and keep their profile current."""
    async with ctx.work() as uow:
        user = await uow.users.get_by_telegram_id(profile.telegram_id)
        if user is not None:
            updated = user.with_telegram_profile(profile.username, profile.first_name)
            if updated is not None:
                await uow.users.save(updated)
                user = updated
            account = await uow.ledger.account(user.id)
            await uow.commit()
            return UserView(user, account.balance if account else 0)
    user = User.register(
        ctx.ids.new_id(),
        ctx.clock.now(),
        telegram_id=profile.telegram_id,
        telegram_username=profile.username,
        telegram_first_name=profile.first_name,
    )
    return await _create_user(ctx, user)


async def _create_user(ctx: Context, user: User) -> UserView:
    """Insert the user and the initial grant; a concurrent sign-up of the same user wins."""
    try:
        async with ctx.work() as uow:
            await uow.users.add(user)
            account = CreditAccount(user.id)
            await uow.ledger.add_account(account)
            if ctx.config.initial_credits > 0:
                account, entry = account.grant(
                    ctx.config.initial_credits, f"initial:{user.id}", ctx.clock.now(), "initial credits"
                )
                await uow.ledger.post(account, entry)
            await uow.commit()
            return UserView(user, account.balance)
    except Conflict:
        async with ctx.work() as uow:
            existing = await (
                uow.users.get_by_telegram_id(user.telegram_id)
                if user.telegram_id is not None
                else uow.users.get(user.id)
            )
            if existing is None:
                raise
            stored = await uow.ledger.account(existing.id)
            return UserView(existing, stored.balance if stored else 0)


async def get_user(ctx: Context, user_id: str) -> UserView:
    async with ctx.work() as uow:
        user = await uow.users.get(user_id)
        account = await uow.ledger.account(user_id)
        if user is None or account is None:
            raise NotFound("user", user_id)
        return UserView(user, account.balance)


async def balance(ctx: Context, user_id: str) -> int:
    async with ctx.work() as uow:
        account = await uow.ledger.account(user_id)
        if account is None:
            raise NotFound("user", user_id)
        return account.balance


async def adjust_credits(
    ctx: Context, user_id: str, amount: int, reason: str, key: str | None = None
) -> int:
    """Grant (amount > 0) or deduct (amount < 0, never below zero); return the new balance.

    With a key, repeating the same request is harmless and reusing the key for a different
    one is an IdempotencyConflict.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise InvalidRequest("amount", "must be a non-zero whole number")
    if abs(amount) > MAX_ADJUSTMENT:
        raise InvalidRequest("amount", f"must be at most {MAX_ADJUSTMENT} in size")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise InvalidRequest("reason", f"must be a string of at most {MAX_REASON_LENGTH} characters")
    if not is_line(reason):
        raise InvalidRequest("reason", "must not contain control characters")
    if (
        not isinstance(user_id, str)
        or not user_id
        or len(user_id) > MAX_USER_ID_LENGTH
        or not is_line(user_id)
    ):
        raise InvalidRequest("user_id", "is not a user id")
    kind = EntryKind.GRANT if amount > 0 else EntryKind.ADJUST
    key = key or f"adjust:{ctx.ids.new_id()}"
    async with ctx.work() as uow:
        account = await _account_for_update(uow, user_id)
        existing = await uow.ledger.entry(key)
        if check_replay(existing, user_id=user_id, kind=kind, amount=amount, reason=reason):
            return account.balance
        now = ctx.clock.now()
        account, entry = (
            account.grant(amount, key, now, reason) if amount > 0 else account.adjust(amount, key, now, reason)
        )
        await uow.ledger.post(account, entry)
        await uow.commit()
        return account.balance


async def _account_for_update(uow: UnitOfWork, user_id: str) -> CreditAccount:
    account = await uow.ledger.account_for_update(user_id)
    if account is None:
        raise NotFound("user", user_id)
    return account


async def ledger_entries(ctx: Context, user_id: str) -> list[LedgerEntry]:
    async with ctx.work() as uow:
        return await uow.ledger.entries(user_id)
