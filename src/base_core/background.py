"""The background loop: polls Replicate and reconciles, one asyncio task per process.

Every `interval` seconds one round runs:
- base_core.usecases.polling.poll_once when no webhook can reach us (BASE_PUBLIC_URL
  unset): every in-flight generation is asked about on a backing-off schedule;
- base_core.usecases.reconcile.reconcile_once when a ReconcilePolicy is given: quiet
  generations (lost webhooks), orphaned pending ones, outputs still to copy, expired
  holds. Its work is claimed in the database, so every process of the service can run it.
With webhooks on and a reconciler, polling is left to the reconciler.

The core does no logging: what a round could not do (a generation Replicate would not
answer about, a failed round) goes to `report`, which the service points at its logs.
An embedder gets the loop with `Studio.background()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from base_core.usecases.context import Context

if TYPE_CHECKING:
    from base_core.studio import Studio
from base_core.usecases.polling import DEFAULT_RECONCILE_AFTER, PollSchedule, poll_once
from base_core.usecases.reconcile import ReconcilePolicy, ReconcileReport, reconcile_once

MAX_RECONCILE_EVERY = 5.0  # seconds

# What a round could not do, and the exception behind it when there was one.
Report = Callable[[str, BaseException | None], None]


def _ignore(problem: str, error: BaseException | None) -> None:
    return None


def _ignore_report(report: ReconcileReport) -> None:
    return None


class Poller:
    """Polls in the background: `await start()` / `await stop()`, or `await run(stop_event)`.

    `interval` is how often a round runs (the schedule's resolution, not the wait between
    two polls of one generation); `reconcile_after` is the longest wait between two polls
    of one generation (BASE_RECONCILE_AFTER_SECONDS). `webhooks=True` polls only
    generations that have been quiet for `reconcile_after`.
    """

    def __init__(
        self,
        target: Context | Studio,
        interval: float = 1.0,
        *,
        reconcile_after: float = DEFAULT_RECONCILE_AFTER.total_seconds(),
        webhooks: bool = False,
        schedule: PollSchedule | None = None,
        limit: int = 20,
        reconcile: ReconcilePolicy | None = None,
        report: Report = _ignore,
        reconciled: Callable[[ReconcileReport], None] = _ignore_report,
    ) -> None:
        if interval <= 0 or reconcile_after <= 0 or limit <= 0:
            raise ValueError("interval, reconcile_after and limit must be positive")
        self._ctx = target if isinstance(target, Context) else target.context
        self._report = report
        self._reconciled = reconciled  # what each reconciler round did (metrics, tests)
        self._interval = interval
        self._limit = limit
        if schedule is None:
            quiet = timedelta(seconds=reconcile_after)
            schedule = PollSchedule.reconciling(quiet) if webhooks else PollSchedule.polling(quiet)
        self.schedule = schedule
        self.reconcile = reconcile
        self._poll = not (webhooks and reconcile is not None)
        # A reconciler round takes a write transaction (its claim) even when nothing is due;
        # every few seconds is plenty next to a quiet period of a minute.
        self.reconcile_every = (
            min(max(reconcile.quiet_after.total_seconds() / 4, interval), MAX_RECONCILE_EVERY)
            if reconcile is not None
            else 0.0
        )
        self._last_reconcile: float | None = None
        self.rounds = 0  # completed rounds, for tests and health checks
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; a failing round is logged and the next one runs."""
        while not stop.is_set():
            try:
                await self.run_round()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database may be down for a while: keep going
                self._report("a polling round failed", error)
            self.rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def run_round(self) -> None:
        problems: list[str] = []
        if self._poll:
            await poll_once(self._ctx, self.schedule, self._limit, problems)
        if self.reconcile is not None and self._reconcile_due():
            report = await reconcile_once(self._ctx, self.reconcile)
            self._reconciled(report)
            problems += report.problems
        for problem in problems:
            self._report(problem, None)

    def _reconcile_due(self) -> bool:
        now = asyncio.get_running_loop().time()
        if self._last_reconcile is not None and now - self._last_reconcile < self.reconcile_every:
            return False
        self._last_reconcile = now
        return True

    async def start(self) -> None:
        if self.running:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run(self._stop), name="base-poller")

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the current round (or cancel it after `timeout`) and stop."""
        task, self._task = self._task, None
        if task is None:
            return
        assert self._stop is not None
        self._stop.set()
        try:
            await asyncio.wait_for(task, timeout)
        except TimeoutError:
            self._report(f"the background loop did not stop within {timeout:.1f}s; cancelled", None)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise

    async def __aenter__(self) -> Poller:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


__all__ = ["Poller"]
