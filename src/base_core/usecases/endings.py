"""The one way a generation moves on, and the one way its credit hold is resolved.

Whatever ends a generation — Replicate's news from a webhook, a poll or the create answer,
the reconciler giving up, an expired hold, a create that no token took, a user's delete —
goes through `advance`: the lifecycle moves (or not, for stale or repeated news) and, when
the generation reaches a terminal state, its hold is settled (completed) or voided (failed,
canceled) in the same unit of work. Locks are taken in one order everywhere: the
generation (read `for_update` by the caller), then the hold, then the account.
"""

from __future__ import annotations

from datetime import datetime

from base_core.errors import NotFound, ProviderError
from base_core.generation import C as COMPLETED  # Status.COMPLETED, read as a global
from base_core.generation import Generation, News
from base_core.ledger import hold_key_for
from base_core.ports import TokenCredential, UnitOfWork
from base_core.usecases.context import Context


async def advance(
    uow: UnitOfWork, generation: Generation, news: News, now: datetime
) -> Generation | None:
    """Apply `news` to a generation locked in `uow`, resolving its hold on an ending, and
    save it (with any events `generation` has recorded); None when the news changes nothing."""
    moved = generation.advance(news, now)
    if moved is None:
        return None
    # The generation's row is locked already: first. Saving took the events just recorded,
    # so a later change does not record them again.
    saved = await uow.generations.save(moved)
    if saved.is_terminal:
        await resolve_hold(uow, hold_key_for(saved.id), saved.user_id, now, settle=saved.status is COMPLETED)
    return saved


async def resolve_hold(uow: UnitOfWork, hold_key: str, user_id: str, now: datetime, *, settle: bool) -> bool:
    """Settle or void a pending hold, once; False when it is gone or already resolved."""
    hold = await uow.ledger.hold_for_update(hold_key)
    if hold is None or not hold.is_pending:
        return False
    account = await uow.ledger.account_for_update(user_id)
    if account is None:
        return False
    account, hold, entry = account.settle(hold, now) if settle else account.void(hold, now)
    await uow.ledger.post(account, entry, hold)
    return True


async def cancel_at_replicate(ctx: Context, token_id: str | None, prediction_id: str | None) -> str | None:
    """Ask Replicate to stop a prediction with the token that made it; the reason it could
    not be asked, or None. A cancel is best effort: the generation's ending stands either way."""
    if not prediction_id or not token_id:
        return "no prediction or token to cancel with"
    async with ctx.work() as uow:
        token = await uow.tokens.get(token_id)
    if token is None:
        return f"token {token_id} is gone"
    try:
        await ctx.inference.cancel(TokenCredential(token.id, token.secret), prediction_id)
    except (ProviderError, NotFound) as error:
        return error.message
    return None


__all__ = ["advance", "cancel_at_replicate", "resolve_hold"]
