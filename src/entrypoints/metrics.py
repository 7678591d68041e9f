"""Prometheus metrics: what one process counted, and the shared state read from the database.

Counters subscribe to the domain events (base_core.events) through the dispatcher, so the
core makes no metric calls; Replicate calls and webhooks are measured by wrapping the
ports (`MeasuredInference`, `MeasuredWebhooks`, `counting_duplicates`). The gauges that
describe shared state (tokens, generations in flight, credit holds) are read from the
database on each scrape (`Metrics.refresh`), so every process on one database agrees.
Each `Metrics` has a registry of its own; the names are listed in `METRIC_NAMES`, which
the deploy files are checked against.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from base_core.errors import (
    BaseError,
    ProviderInputRejected,
    TokenOutOfCredit,
    TokenRateLimited,
    TokenRejected,
    Unauthenticated,
)
from base_core.events import (
    CreditsHeld,
    CreditsPurchased,
    CreditsRefunded,
    CreditsSettled,
    DomainEvent,
    EventDispatcher,
    GenerationAccepted,
    GenerationCanceled,
    GenerationCompleted,
    GenerationEnded,
    GenerationFailed,
    OutputsKept,
    OutputsNotKept,
)
from base_core.generation import PredictionUpdate
from base_core.ports import (
    InferenceProvider,
    TokenCredential,
    UnitOfWork,
    UnitOfWorkFactory,
    UpdateInbox,
    VerifiedWebhook,
    WebhookTarget,
    WebhookVerifier,
)
from base_core.usecases.reconcile import ReconcileReport
from base_core.usecases.vitals import Vitals

PREFIX = "base"
# Seconds: from a fast create answer to Replicate's 30-minute limit.
GENERATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, float("inf"))
RECONCILE_ACTIONS = (
    "claimed", "asked", "voided_pending", "timed_out", "outputs_kept", "holds_resolved",
    "orphans_canceled",
)
ENDINGS: Mapping[type[GenerationEnded], str] = {
    GenerationCompleted: "completed",
    GenerationFailed: "failed",
    GenerationCanceled: "canceled",
}
VitalsSource = Callable[[], Awaitable[Vitals]]


class Metrics:
    """Every metric of one process, in a registry of its own."""

    def __init__(self, vitals: VitalsSource | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            f"{PREFIX}_http_requests", "HTTP requests answered, by route template and status",
            ["method", "route", "status"], registry=r,
        )
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds", "Time to answer an HTTP request",
            ["method", "route"], registry=r,
        )
        self.generations_accepted = Counter(
            f"{PREFIX}_generations_accepted", "Generations accepted (credits held)",
            ["model", "action"], registry=r,
        )
        self.generations_ended = Counter(
            f"{PREFIX}_generations_ended", "Generations that ended, by how",
            ["model", "action", "status"], registry=r,
        )
        self.generation_duration = Histogram(
            f"{PREFIX}_generation_duration_seconds", "From acceptance to the ending",
            ["model", "status"], buckets=GENERATION_BUCKETS, registry=r,
        )
        self.credits_held = Counter(f"{PREFIX}_credits_held", "Credits reserved by holds", registry=r)
        self.credits_settled = Counter(
            f"{PREFIX}_credits_settled", "Credits charged when generations completed", registry=r
        )
        self.credits_refunded = Counter(
            f"{PREFIX}_credits_refunded", "Held credits that came back (voids, unused parts)", registry=r
        )
        self.credits_purchased = Counter(
            f"{PREFIX}_credits_purchased", "Credits granted for a purchase", registry=r
        )
        self.replicate_calls = Counter(
            f"{PREFIX}_replicate_calls", "Calls to Replicate, by operation, outcome and token label",
            ["operation", "outcome", "token"], registry=r,
        )
        self.replicate_duration = Histogram(
            f"{PREFIX}_replicate_call_duration_seconds", "Time a call to Replicate took",
            ["operation"], registry=r,
        )
        self.webhooks_received = Counter(
            f"{PREFIX}_webhooks_received", "Webhook deliveries received", registry=r
        )
        self.webhooks_rejected = Counter(
            f"{PREFIX}_webhooks_rejected", "Webhook deliveries refused (bad or missing signature)",
            registry=r,
        )
        self.webhooks_duplicated = Counter(
            f"{PREFIX}_webhooks_duplicated", "Webhook deliveries seen before (ignored)", registry=r
        )
        self.reconciler_runs = Counter(f"{PREFIX}_reconciler_runs", "Reconciler rounds", registry=r)
        self.reconciler_actions = Counter(
            f"{PREFIX}_reconciler_actions", "What reconciler rounds did", ["action"], registry=r
        )
        self.reconciler_problems = Counter(
            f"{PREFIX}_reconciler_problems", "What reconciler rounds could not do", registry=r
        )
        self.output_copies = Counter(
            f"{PREFIX}_output_copies", "Copies of results into the output store, by outcome",
            ["outcome"], registry=r,
        )
        self.live_streams = Gauge(
            f"{PREFIX}_live_streams", "Event streams open on this process (live status)", registry=r,
        )
        self.vitals = VitalsCollector(vitals)
        r.register(self.vitals)

    def watch_streams(self, open_streams: Callable[[], int]) -> None:
        """The live feed's subscribers of this process, read on each scrape."""
        self.live_streams.set_function(open_streams)

    # -- the domain events -----------------------------------------------------------------

    def subscribe(self, dispatcher: EventDispatcher) -> None:
        dispatcher.subscribe(self.on_event)

    def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, GenerationAccepted):
            self.generations_accepted.labels(event.model_id, event.action).inc()
        elif isinstance(event, GenerationEnded):
            status = ENDINGS.get(type(event), type(event).__name__)
            self.generations_ended.labels(event.model_id, event.action, status).inc()
            took = max((event.at - event.accepted_at).total_seconds(), 0.0)
            self.generation_duration.labels(event.model_id, status).observe(took)
        elif isinstance(event, CreditsHeld):
            self.credits_held.inc(event.amount)
        elif isinstance(event, CreditsSettled):
            self.credits_settled.inc(event.amount)
            if event.refunded:
                self.credits_refunded.inc(event.refunded)
        elif isinstance(event, CreditsRefunded):
            self.credits_refunded.inc(event.amount)
        elif isinstance(event, CreditsPurchased):
            self.credits_purchased.inc(event.amount)
        elif isinstance(event, OutputsKept):
            self.output_copies.labels("kept").inc()
        elif isinstance(event, OutputsNotKept):
            self.output_copies.labels("failed").inc()

    # -- the background loop ---------------------------------------------------------------

    def on_reconciled(self, report: ReconcileReport) -> None:
        self.reconciler_runs.inc()
        for action in RECONCILE_ACTIONS:
            done = getattr(report, action)
            if done:
                self.reconciler_actions.labels(action).inc(done)
        if report.problems:
            self.reconciler_problems.inc(len(report.problems))

    # -- HTTP ------------------------------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    # -- the shared state ------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the shared state now; the next exposition reports it."""
        await self.vitals.refresh()


class VitalsCollector(Collector):
    """The gauges of shared state, from the last `refresh()`.

    The API's /metrics awaits `refresh()` before it renders. The listener on
    BASE_METRICS_BIND renders on a thread of its own: there `collect()` asks the event
    loop the services run on for a fresh reading first (bounded, so a slow database shows
    as stale gauges rather than a hung scrape).
    """

    TIMEOUT = 5.0

    def __init__(self, source: VitalsSource | None) -> None:
        self._source = source
        self._latest: Vitals | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    async def refresh(self) -> None:
        if self._source is None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._latest = await self._source()

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._loop_thread = loop, threading.get_ident()

    def collect(self) -> Iterable[Metric]:
        if self._source is not None and self._loop is not None and threading.get_ident() != self._loop_thread:
            try:
                asyncio.run_coroutine_threadsafe(self.refresh(), self._loop).result(self.TIMEOUT)
            except Exception:  # noqa: BLE001, S110 - the database is down or slow: report what was last seen
                pass
        return list(_vitals_metrics(self._latest))

    def describe(self) -> Iterable[Metric]:
        return list(_vitals_metrics(None))


def _vitals_metrics(vitals: Vitals | None) -> Iterator[Metric]:
    tokens = GaugeMetricFamily(
        f"{PREFIX}_tokens", "Replicate tokens by state (from the database)", labels=["state"]
    )
    in_flight = GaugeMetricFamily(
        f"{PREFIX}_generations_in_flight", "Generations pending or processing (from the database)",
        labels=["status"],
    )
    oldest = GaugeMetricFamily(
        f"{PREFIX}_oldest_processing_generation_age_seconds",
        "Age of the oldest generation still processing, 0 when none (from the database)",
    )
    holds = GaugeMetricFamily(
        f"{PREFIX}_credit_holds_pending", "Credit holds not settled or voided yet (from the database)"
    )
    oldest_hold = GaugeMetricFamily(
        f"{PREFIX}_oldest_credit_hold_age_seconds",
        "Age of the oldest credit hold still pending, 0 when none (from the database)",
    )
    if vitals is not None:
        tokens.add_metric(["active"], vitals.tokens_active)
        tokens.add_metric(["cooling"], vitals.tokens_cooling)
        tokens.add_metric(["retired"], vitals.tokens_retired)
        in_flight.add_metric(["pending"], vitals.pending)
        in_flight.add_metric(["processing"], vitals.processing)
        oldest.add_metric([], vitals.oldest_processing_seconds)
        holds.add_metric([], vitals.holds_pending)
        oldest_hold.add_metric([], vitals.oldest_hold_seconds)
    yield from (tokens, in_flight, oldest, holds, oldest_hold)


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    for kind, name in (
        (TokenRateLimited, "rate_limited"),
        (TokenRejected, "rejected"),
        (TokenOutOfCredit, "out_of_credit"),
        (ProviderInputRejected, "input_rejected"),
    ):
        if isinstance(error, kind):
            return name
    return "unavailable" if isinstance(error, BaseError) else "error"


class TokenLabels:
    """Token id → its label, read once per token through the store (labels never change
    their meaning; the secret is never read out of the credential)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow
        self._labels: dict[str, str] = {}

    async def of(self, token_id: str) -> str:
        label = self._labels.get(token_id)
        if label is None:
            try:
                async with self._uow() as uow:
                    token = await uow.tokens.get(token_id)
            except Exception:  # noqa: BLE001 - a metric's label is not worth failing a call over
                return token_id
            label = self._labels[token_id] = token.label if token is not None else token_id
        return label


class MeasuredInference:
    """The InferenceProvider port, counting and timing each call to Replicate."""

    def __init__(self, inner: InferenceProvider, metrics: Metrics, labels: TokenLabels) -> None:
        self._inner = inner
        self._metrics = metrics
        self._labels = labels

    async def create(
        self,
        token: TokenCredential,
        replicate_model: str,
        replicate_input: dict[str, Any],
        webhook: WebhookTarget | None,
    ) -> PredictionUpdate:
        return await self._measured(
            "create", token, self._inner.create(token, replicate_model, replicate_input, webhook)
        )

    async def get(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self._measured("get", token, self._inner.get(token, prediction_id))

    async def cancel(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self._measured("cancel", token, self._inner.cancel(token, prediction_id))

    async def _measured(
        self, operation: str, token: TokenCredential, call: Awaitable[PredictionUpdate]
    ) -> PredictionUpdate:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await call
        except Exception as exc:
            error = exc
            raise
        finally:
            self._metrics.replicate_duration.labels(operation).observe(time.perf_counter() - started)
            label = await self._labels.of(token.token_id)
            self._metrics.replicate_calls.labels(operation, _outcome(error), label).inc()

    def __getattr__(self, name: str) -> Any:  # the adapter's own extras (webhook_secret, ...)
        return getattr(self._inner, name)


class MeasuredWebhooks:
    """The WebhookVerifier port, counting deliveries received and refused."""

    def __init__(self, inner: WebhookVerifier, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedWebhook:
        self._metrics.webhooks_received.inc()
        try:
            return await self._inner.verify(headers, body)
        except Unauthenticated:
            self._metrics.webhooks_rejected.inc()
            raise


class _CountingInbox:
    def __init__(self, inner: UpdateInbox, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def mark_delivered(self, delivery_id: str, now: Any) -> bool:
        fresh = await self._inner.mark_delivered(delivery_id, now)
        if not fresh:
            self._metrics.webhooks_duplicated.inc()
        return fresh

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def counting_duplicates(factory: UnitOfWorkFactory, metrics: Metrics) -> UnitOfWorkFactory:
    """Units of work whose inbox counts the deliveries it had already recorded."""

    def unit_of_work() -> UnitOfWork:
        uow = factory()
        uow.inbox = _CountingInbox(uow.inbox, metrics)
        return uow

    return unit_of_work


_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def metric_names(metrics: Metrics) -> frozenset[str]:
    """Every series name the exposition can carry (a counter's `_total`, a histogram's
    `_bucket`...), observed yet or not: what dashboards and alerts may refer to."""
    names: set[str] = set()
    for family in metrics.registry.collect():
        names.update(family.name + suffix for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",)))
    return frozenset(names)


__all__ = [
    "MeasuredInference",
    "MeasuredWebhooks",
    "Metrics",
    "TokenLabels",
    "counting_duplicates",
    "metric_names",
]
