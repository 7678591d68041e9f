"""Overhead ratio and the polling hot path: `base serve` against the minimal handlers.

Both servers run at once, each on its own copy of the same seeded database, with the same
uvicorn settings (one worker) and the same simulator behind them. Every scenario is run
in alternating rounds (minimal, .base, minimal, .base ...) so drifting load on the machine
hits both sides alike; each side's best round is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from bench import payments, seed
from bench import requests as rq
from bench.servers import (
    SESSION_SECRET,
    STRIPE_WEBHOOK_SECRET,
    TELEGRAM_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    Load,
    Server,
    base_serve,
    drive,
    minimal_app,
    simulator,
)

EXISTING_TARGET = 0.85  # create, get by id, list and the Replicate webhook against the minimal
PAYMENT_TARGET = 0.80  # Telegram's successful_payment and Stripe's checkout.session.completed


@attrs.frozen
class Sizes:
    load: Load
    rounds: int = 2
    history: int = 2000
    waiting: int = 30000  # webhooks need a fresh prediction (or purchase) each
    # Only the scenarios whose name contains one of these (None: all of them).
    scenarios: tuple[str, ...] | None = None

    def wants(self, scenario: str) -> bool:
        return self.scenarios is None or any(part in scenario for part in self.scenarios)


@attrs.frozen
class Comparison:
    database: str
    scenario: str
    base: dict[str, Any]
    reference: dict[str, Any]
    reference_name: str
    target: float | None  # None: a limit to compare with, not a target
    side: str = ".base"  # what `base` measured (the minimal handler against a limit)

    @property
    def ratio(self) -> float:
        return float(self.base["rps"]) / float(self.reference["rps"])

    @property
    def met(self) -> bool:
        return self.target is None or self.ratio >= self.target

    @property
    def name(self) -> str:
        subject = "" if self.side == ".base" else f"{self.side} "
        return f"{self.database}: {subject}{self.scenario} vs {self.reference_name}"


def best(reports: list[dict[str, Any]]) -> dict[str, Any]:
    return max(reports, key=lambda r: r["rps"])


def checked(report: dict[str, Any], what: str) -> dict[str, Any]:
    bad = {k: v for k, v in report["statuses"].items() if not k.startswith("2")}
    if bad or report["errors"] or not report["requests"]:
        raise RuntimeError(f"{what}: unexpected answers {report}")
    return report


def _compare(
    rounds: int, database: str, scenario: str, target: float, reference_name: str,
    base: Server, reference: Server, base_requests: Callable[[int], list[bytes]],
    reference_requests: Callable[[int], list[bytes]], load: Load,
) -> Comparison:
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for r in range(rounds):
        theirs.append(drive(reference, reference_requests(r), load))
        ours.append(drive(base, base_requests(r), load))
        checked(theirs[-1], f"{reference_name} {scenario}")
        checked(ours[-1], f".base {scenario}")
    return Comparison(database, scenario, best(ours), best(theirs), reference_name, target)


async def prepare(database: str, sizes: Sizes, workdir: Path) -> tuple[seed.Plan, dict[str, str]]:
    plan = seed.Plan(users=50, history=sizes.history, history_users=50, waiting=sizes.waiting,
                     purchases=sizes.waiting)
    urls = {}
    for side in ("base", "minimal"):
        urls[side] = await seed.fresh_database(database, f"bench_{side}_{database}", workdir)
        await seed.load(urls[side], plan)
    return plan, urls


def run(database: str, sizes: Sizes, plan: seed.Plan, urls: dict[str, str], workdir: Path
        ) -> list[Comparison]:
    callers = rq.Callers(SESSION_SECRET, plan.users)
    per_round = plan.waiting // sizes.rounds
    webhooks: Callable[[int], list[bytes]] = lambda r: rq.webhooks(
        WEBHOOK_SECRET, plan.history + r * per_round, per_round
    )
    creates = lambda r: rq.creates(callers)
    reads = lambda r: rq.reads(callers, plan)
    lists = lambda r: rq.lists(callers, plan.users)
    bare = lambda r: rq.bare()
    stars = lambda r: payments.telegram(TELEGRAM_WEBHOOK_SECRET, r * per_round, per_round)
    stripe = lambda r: payments.stripe(STRIPE_WEBHOOK_SECRET, r * per_round, per_round)
    results = []
    with simulator(workdir) as sim, \
            base_serve(urls["base"], sim.url, plan.tokens, workdir) as base, \
            minimal_app(urls["minimal"], sim.url, plan.tokens, workdir) as minimal:
        both = {"base": base, "reference": minimal, "load": sizes.load}
        for scenario, build, in (("create", creates), ("get by id", reads), ("list", lists),
                                 ("webhook", webhooks)):
            if not sizes.wants(scenario):
                continue
            results.append(_compare(sizes.rounds, database, scenario, EXISTING_TARGET, "minimal", **both,
                                    base_requests=build, reference_requests=build))
        for scenario, build in (("Telegram successful_payment", stars),
                                ("Stripe checkout.session.completed", stripe)):
            if not sizes.wants(scenario):
                continue
            results.append(_compare(sizes.rounds, database, scenario, PAYMENT_TARGET, "minimal",
                                    **both, base_requests=build, reference_requests=build))
        if sizes.wants("bare JSON"):
            results.append(_compare(sizes.rounds, database, "get by id", 0.40, "bare JSON", **both,
                                    base_requests=reads, reference_requests=bare))
    return results
