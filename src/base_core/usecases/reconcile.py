"""Reconciling: nothing stays stuck, no hold outlives its generation, no result is lost.

One round (`reconcile_once`) claims the generations that need a look, in the database, so
several processes running rounds at once never work on the same one:

- `processing` with no news for `quiet_after` (a lost webhook): ask Replicate with the
  generation's own token and apply the answer like a webhook (`apply_update`); past
  Replicate's 30-minute limit (plus a grace), fail it, refund it and ask Replicate to
  cancel, whatever Replicate says or fails to say.
- `pending` for `pending_after`: the process that held the credits died (or is stuck)
  before Replicate accepted the work (`pending_after` is longer than a create call takes). It is voided, not submitted: the client that sent it
  saw its request fail and has most likely retried (submitting the orphan would charge
  twice for one intent), and a create that died mid-call may already have made a
  prediction we cannot find. Should the submitting process be alive after all, it finds
  the generation failed when Replicate answers and cancels that prediction.
- `completed` with outputs still on Replicate: copy them into the output store while
  Replicate has them (`output_window`).

Then expired credit holds are resolved by their generation's state: settled for a completed
one, voided otherwise (an in-flight generation whose hold expired is failed first).

A claim is a lease (`next_check_at`): the generation is not looked at again before it
runs out, which is also the interval between two questions about one generation.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import attrs

from base_core.errors import BaseError, ProviderError
from base_core.generation import CheckQuery, Generation, Status
from base_core.ledger import Hold, generation_of_hold
from base_core.ports import TokenCredential, UnitOfWork
from base_core.usecases.context import Context
from base_core.usecases.generations import refresh, resolve_hold
from base_core.usecases.outputs import keep_outputs

logger = logging.getLogger(__name__)

REPLICATE_PREDICTION_LIMIT = timedelta(minutes=30)
REPLICATE_RETENTION = timedelta(hours=1)


@attrs.frozen
class ReconcilePolicy:
    quiet_after: timedelta = timedelta(seconds=60)  # BASE_RECONCILE_AFTER_SECONDS
    # BASE_PENDING_AFTER_SECONDS: longer than a create call with failover can take, so a
    # slow submission in a live process is not mistaken for one whose process died.
    pending_after: timedelta = timedelta(seconds=120)
    # Replicate stops a prediction after 30 minutes; the grace covers clock skew and a
    # terminal webhook still on its way.
    prediction_deadline: timedelta = REPLICATE_PREDICTION_LIMIT + timedelta(minutes=5)
    output_window: timedelta = REPLICATE_RETENTION
    batch: int = 50

    def __attrs_post_init__(self) -> None:
        if min(self.quiet_after, self.pending_after) <= timedelta(0) or self.batch <= 0:
            raise ValueError("quiet_after, pending_after and batch must be positive")

    @classmethod
    def after(cls, seconds: float, pending_seconds: float | None = None) -> ReconcilePolicy:
        quiet = timedelta(seconds=seconds)
        pending = timedelta(seconds=pending_seconds) if pending_seconds is not None else quiet
        return cls(quiet_after=quiet, pending_after=pending)


@attrs.define
class ReconcileReport:
    """What one round did, for logs and tests."""

    claimed: int = 0
    asked: int = 0
    voided_pending: int = 0
    timed_out: int = 0
    outputs_kept: int = 0
    holds_resolved: int = 0
    errors: int = 0

    @property
    def did_anything(self) -> bool:
        return self.claimed > 0 or self.holds_resolved > 0


async def reconcile_once(ctx: Context, policy: ReconcilePolicy | None = None) -> ReconcileReport:
    """One round; a failure on one generation is logged and does not stop the others."""
    policy = policy or ReconcilePolicy()
    report = ReconcileReport()
    for generation in await claim(ctx, policy):
        report.claimed += 1
        try:
            await _check(ctx, policy, generation, report)
        except BaseError as error:
            report.errors += 1
            logger.warning("reconciling generation %s failed: %s", generation.id, error.message)
    report.holds_resolved = await resolve_expired_holds(ctx, policy.batch, report)
    return report


async def claim(ctx: Context, policy: ReconcilePolicy) -> list[Generation]:
    now = ctx.clock.now()
    query = CheckQuery(
        now=now,
        pending_before=now - policy.pending_after,
        processing_before=now - policy.quiet_after,
        outputs_since=now - policy.output_window if ctx.outputs is not None else None,
        lease_until=now + policy.quiet_after,
        limit=policy.batch,
    )
    async with ctx.uow() as uow:
        claimed = await uow.generations.claim_for_check(query)
        await uow.commit()
    return claimed


async def _check(ctx: Context, policy: ReconcilePolicy, generation: Generation, report: ReconcileReport) -> None:
    now = ctx.clock.now()
    if generation.status is Status.PENDING:
        if await fail_and_refund(
            ctx, generation.id, "the service stopped before Replicate took the generation; credits returned",
            only=Status.PENDING,
        ):
            report.voided_pending += 1
    elif generation.status is Status.PROCESSING:
        if now - generation.created_at > policy.prediction_deadline:
            await _cancel_quietly(ctx, generation)
            if await fail_and_refund(
                ctx, generation.id, "timed out: no result within Replicate's 30-minute limit",
                only=Status.PROCESSING,
            ):
                report.timed_out += 1
            return
        report.asked += 1
        await refresh(ctx, generation.id)
    elif generation.needs_output_copy:
        if await keep_outputs(ctx, generation.id) is not None:
            report.outputs_kept += 1


async def fail_and_refund(ctx: Context, generation_id: str, message: str, only: Status | None = None) -> bool:
    """Fail an in-flight generation and void its hold in one unit of work; False if it
    had moved on (or away from `only`) meanwhile."""
    async with ctx.uow() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        if generation is None or generation.is_terminal or (only is not None and generation.status is not only):
            return False
        previous = generation.status
        generation.fail(message, ctx.clock.now())
        await resolve_hold(ctx, uow, generation)
        await uow.generations.save(generation)
        await uow.commit()
    ctx.events.changed(generation, previous.value)
    return True


async def _cancel_quietly(ctx: Context, generation: Generation) -> None:
    if not generation.prediction_id or not generation.token_id:
        return
    async with ctx.uow() as uow:
        token = await uow.tokens.get(generation.token_id)
    if token is None:
        return
    try:
        await ctx.inference.cancel(TokenCredential(token.id, token.secret), generation.prediction_id)
    except ProviderError as error:
        logger.info("canceling timed-out prediction %s failed: %s", generation.prediction_id, error.message)


async def resolve_expired_holds(ctx: Context, limit: int, report: ReconcileReport | None = None) -> int:
    """Settle or void every hold whose time is up; return how many were resolved here."""
    async with ctx.uow() as uow:
        expired = await uow.ledger.expired_holds(ctx.clock.now(), limit)
    resolved = 0
    for hold in expired:
        try:
            if await _resolve_expired(ctx, hold):
                resolved += 1
        except BaseError as error:  # one bad hold must not keep the others pending
            if report is not None:
                report.errors += 1
            logger.warning("resolving expired hold %s failed: %s", hold.key, error.message)
    return resolved


async def _resolve_expired(ctx: Context, hold: Hold) -> bool:
    generation_id = generation_of_hold(hold.key)
    previous: Status | None = None
    async with ctx.uow() as uow:
        # The usual lock order: generation, then hold, then account.
        generation = await uow.generations.get_for_update(generation_id) if generation_id else None
        if generation is not None:
            if not generation.is_terminal:
                previous = generation.status
                generation.fail("timed out: the credit hold expired", ctx.clock.now())
                await uow.generations.save(generation)
            await resolve_hold(ctx, uow, generation)
        else:
            await _void_orphan(ctx, uow, hold.key)
        current = await uow.ledger.hold_for_update(hold.key)
        await uow.commit()
    if generation is not None and previous is not None:
        ctx.events.changed(generation, previous.value)
    return current is not None and not current.is_pending


async def _void_orphan(ctx: Context, work: UnitOfWork, hold_key: str) -> None:
    """A hold with no generation behind it (should not happen): give the credits back."""
    hold = await work.ledger.hold_for_update(hold_key)
    if hold is None or not hold.is_pending:
        return
    account = await work.ledger.account_for_update(hold.user_id)
    if account is None:
        return
    entry = account.void(hold, ctx.clock.now())
    await work.ledger.append(entry)
    await work.ledger.save_hold(hold)
    await work.ledger.save_account(account)


__all__ = [
    "ReconcilePolicy",
    "ReconcileReport",
    "claim",
    "fail_and_refund",
    "reconcile_once",
    "resolve_expired_holds",
]
