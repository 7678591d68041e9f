"""`base reconcile`: one reconciler run from the command line (cron, after an incident).

It does what the service's background loop does, until a round finds nothing more to
do: quiet generations are asked about at Replicate, pending ones whose process died are
voided, overdue ones failed and refunded, outputs copied, expired holds resolved. Safe
while `base serve` processes run: the work is claimed in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from base_core.usecases.reconcile import ReconcilePolicy, ReconcileReport
from entrypoints.bootstrap import open_services
from entrypoints.cli.database import require_existing
from entrypoints.settings import Settings

MAX_ROUNDS = 1000


def add_commands(commands: Any) -> None:
    reconcile = commands.add_parser(
        "reconcile", help="resolve stuck generations, expired holds and uncopied outputs once"
    )
    reconcile.add_argument(
        "--after", type=float, default=None,
        help="seconds without news before a generation counts as stuck "
        "(default BASE_RECONCILE_AFTER_SECONDS)",
    )
    reconcile.add_argument(
        "--pending-after", type=float, default=None,
        help="seconds before a pending generation counts as orphaned and is voided "
        "(default BASE_PENDING_AFTER_SECONDS)",
    )
    reconcile.set_defaults(handler=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    require_existing(settings)
    after = args.after if args.after is not None else settings.reconcile_after_seconds
    pending = args.pending_after if args.pending_after is not None else settings.pending_after_seconds
    if after <= 0 or pending <= 0:
        raise SystemExit("base: --after and --pending-after must be positive")
    total = asyncio.run(reconcile(settings, ReconcilePolicy.after(after, pending)))
    print(
        f"claimed {total.claimed}, asked Replicate about {total.asked}, "
        f"voided {total.voided_pending} pending, timed out {total.timed_out}, "
        f"kept outputs of {total.outputs_kept}, resolved {total.holds_resolved} expired holds, "
        f"canceled {total.orphans_canceled} orphaned predictions, {total.errors} errors"
    )
    for problem in total.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if total.errors else 0


async def reconcile(settings: Settings, policy: ReconcilePolicy) -> ReconcileReport:
    total = ReconcileReport()
    async with open_services(settings, background=False) as services:
        for _ in range(MAX_ROUNDS):
            report = await services.studio.reconcile(policy)
            for field in ("claimed", "asked", "voided_pending", "timed_out", "outputs_kept",
                          "holds_resolved", "orphans_canceled"):
                setattr(total, field, getattr(total, field) + getattr(report, field))
            total.problems += report.problems
            # Claimed work is leased, so a round that claims nothing new means we are done.
            if not report.did_anything:
                break
    return total


__all__ = ["add_commands", "cmd_reconcile"]
