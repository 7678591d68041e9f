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
- predictions that a create call made and died before recording (their webhooks are
  parked with no generation to apply them to, for longer than `pending_after`): canceled
  at Replicate, so they stop running at the service's cost.

Then expired credit holds are resolved by their generation's state: settled for a completed
one, voided otherwise (an in-flight generation whose hold expired is failed first).

A claim is a lease (`next_check_at`): the generation is not looked at again before it
runs out, which is also the interval between two questions about one generation.
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from base_core.errors import BaseError, NotFound, ProviderError
from base_core.generation import CheckQuery, Failure, Generation, Status
from base_core.ledger import Hold, generation_of_hold
from base_core.ports import TokenCredential
from base_core.usecases.context import Context
from base_core.usecases.endings import advance, cancel_at_replicate, resolve_hold
from base_core.usecases.files import purge_pending
from base_core.usecases.generations import refresh
from base_core.usecases.outputs import keep_outputs

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
    """What one round did, for logs, metrics and tests; `problems` says what went wrong
    (the round goes on past each)."""

    claimed: int = 0
    asked: int = 0
    voided_pending: int = 0
    timed_out: int = 0
    outputs_kept: int = 0
    holds_resolved: int = 0
    orphans_canceled: int = 0
    files_deleted: int = 0
    problems: list[str] = attrs.field(factory=list)

    @property
    def errors(self) -> int:
        return len(self.problems)

    @property
    def did_anything(self) -> bool:
        return (
            self.claimed > 0 or self.holds_resolved > 0 or self.orphans_canceled > 0
            or self.files_deleted > 0
        )

    def problem(self, what: str) -> None:
        self.problems.append(what)


async def reconcile_once(ctx: Context, policy: ReconcilePolicy | None = None) -> ReconcileReport:
    """One round; a failure on one generation is reported and does not stop the others."""
    policy = policy or ReconcilePolicy()
    report = ReconcileReport()
    for generation in await claim(ctx, policy):
        report.claimed += 1
        try:
            await _check(ctx, policy, generation, report)
        except BaseError as error:
            report.problem(f"reconciling generation {generation.id} failed: {error.message}")
    report.holds_resolved = await resolve_expired_holds(ctx, policy.batch, report)
    await cancel_orphaned_predictions(ctx, policy, report)
    try:
        report.files_deleted = await purge_pending(ctx, policy.batch)
    except BaseError as error:
        report.problem(f"deleting stored files failed: {error.message}")
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
    async with ctx.work() as uow:
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
            problem = await cancel_at_replicate(ctx, generation.token_id, generation.prediction_id)
            if problem is not None:
                report.problem(f"canceling timed-out prediction {generation.prediction_id} failed: {problem}")
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
    async with ctx.work() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        if generation is None or (only is not None and generation.status is not only):
            return False
        failed = await advance(uow, generation, Failure(message), ctx.clock.now())
        await uow.commit()
    return failed is not None


async def resolve_expired_holds(ctx: Context, limit: int, report: ReconcileReport | None = None) -> int:
    """Settle or void every hold whose time is up; return how many were resolved here."""
    async with ctx.work() as uow:
        expired = await uow.ledger.expired_holds(ctx.clock.now(), limit)
    resolved = 0
    for hold in expired:
        try:
            if await _resolve_expired(ctx, hold):
                resolved += 1
        except BaseError as error:  # one bad hold must not keep the others pending
            if report is not None:
                report.problem(f"resolving expired hold {hold.key} failed: {error.message}")
    return resolved


async def _resolve_expired(ctx: Context, hold: Hold) -> bool:
    """An in-flight generation behind an expired hold is failed (which voids the hold); a
    finished one settles or voids it by its state; a hold of nothing is voided."""
    generation_id = generation_of_hold(hold.key)
    now = ctx.clock.now()
    async with ctx.work() as uow:
        # The usual lock order: generation, then hold, then account.
        generation = await uow.generations.get_for_update(generation_id) if generation_id else None
        if generation is not None and not generation.is_terminal:
            await advance(uow, generation, Failure("timed out: the credit hold expired"), now)
        else:
            settle = generation is not None and generation.status is Status.COMPLETED
            await resolve_hold(uow, hold.key, hold.user_id, now, settle=settle)
        current = await uow.ledger.hold_for_update(hold.key)
        await uow.commit()
    return current is not None and not current.is_pending


async def cancel_orphaned_predictions(ctx: Context, policy: ReconcilePolicy, report: ReconcileReport) -> None:
    """Cancel predictions that only their parked webhooks know of.

    A create call that died after Replicate took the work but before the prediction was
    recorded leaves a prediction nobody pays for but the service. Its webhooks are parked,
    waiting for a generation that will never claim them. Which account made it is unknown,
    so each active token is asked in turn until one can cancel it; the parked updates are
    then dropped. One no token can cancel is reported each round until Replicate's own
    limit has stopped it; then its updates are dropped.
    """
    now = ctx.clock.now()
    async with ctx.work() as uow:
        orphans = await uow.inbox.unclaimed(now - policy.pending_after, policy.batch)
        # Past Replicate's own limit the prediction has stopped, whoever made it.
        stopped = set(await uow.inbox.unclaimed(now - policy.prediction_deadline, policy.batch))
        tokens = [t for t in await uow.tokens.all() if t.is_active] if orphans else []
    for prediction_id in orphans:
        for token in tokens:
            try:
                await ctx.inference.cancel(TokenCredential(token.id, token.secret), prediction_id)
            except (ProviderError, NotFound):
                continue  # not this account's, or Replicate is unreachable: try the next
            await _drop_parked(ctx, prediction_id)
            report.orphans_canceled += 1
            break
        else:
            if prediction_id in stopped:
                await _drop_parked(ctx, prediction_id)
            else:
                report.problem(f"no token could cancel orphaned prediction {prediction_id}")


async def _drop_parked(ctx: Context, prediction_id: str) -> None:
    async with ctx.work() as uow:
        if await uow.generations.get_by_prediction_for_update(prediction_id) is None:
            await uow.inbox.take(prediction_id)
            await uow.commit()


__all__ = [
    "ReconcilePolicy",
    "ReconcileReport",
    "cancel_orphaned_predictions",
    "claim",
    "fail_and_refund",
    "reconcile_once",
    "resolve_expired_holds",
]
