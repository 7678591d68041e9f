"""The composition root: every adapter is built here, by hand, from Settings.

Nothing happens at import time. `open_services(settings)` is an async context manager
that builds the database, Replicate, the sign-in verifiers and the Studio, feeds the
configured tokens into the pool, opens the output store, starts the background loop (polling
when Replicate cannot call us back, and the reconciler),
and tears it all down in reverse order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs

from adapters.auth import (
    BearerVerifier,
    SessionTokens,
    SupabaseJwtVerifier,
    TelegramInitDataVerifier,
)
from adapters.payments import StripeCheckout, TelegramStars
from adapters.storage import ObjectOutputStore
from adapters.storage.links import OutputLinks
from adapters.system import SystemClock, UuidIds
from base_core import (
    Context,
    IdentityVerifier,
    ModelRegistry,
    Studio,
    StudioConfig,
    UrlPolicy,
    builtin_registry,
)
from base_core.background import Poller
from base_core.errors import InvalidRegistry
from base_core.packs import PackCatalogue, builtin_packs
from base_core.ports import (
    Clock,
    IdFactory,
    InferenceProvider,
    OutputStore,
    PaymentGateway,
    UnitOfWorkFactory,
    WebhookVerifier,
)
from base_core.purchases import Provider
from entrypoints.event_log import logging_dispatcher
from entrypoints.live import LiveHub
from entrypoints.metrics import (
    MeasuredInference,
    MeasuredWebhooks,
    Metrics,
    TokenLabels,
    counting_duplicates,
)
from entrypoints.models_file import read_models_file
from entrypoints.packs_file import read_packs_file
from entrypoints.settings import Settings, SettingsError
from entrypoints.startup import StartupRefused, check_schema

log = logging.getLogger("base")

Ping = Callable[[], Awaitable[None]]
# What is wrong with the database's schema, or None when it is current.
SchemaProbe = Callable[[], Awaitable[str | None]]


async def _always_up() -> None:
    return None


async def _no_schema() -> str | None:
    return None


@attrs.frozen
class Operations:
    """What operators watch: the metrics, and what readiness asks about."""

    metrics: Metrics
    metrics_token: str | None = None
    schema: SchemaProbe = _no_schema
    poller: Poller | None = None  # the background loop, when this process runs one


@attrs.frozen
class Services:
    """Everything the HTTP API and the CLI need, already built."""

    studio: Studio
    bearer: IdentityVerifier
    webhooks: WebhookVerifier
    sessions: SessionTokens
    telegram: TelegramInitDataVerifier | None = None
    ping: Ping = _always_up  # raises when the database does not answer
    payments: Payments | None = None  # the webhooks' side of Telegram Stars and Stripe
    ops: Operations | None = None
    links: OutputLinks | None = None  # URLs of stored objects, built from their keys
    max_upload_bytes: int = 10 * 1024 * 1024
    settings: Settings | None = None  # what the studio page may show (never secrets)
    live: LiveHub | None = None  # the live feed's listener, streams and poll cache


@attrs.frozen
class Payments:
    """What the payment webhooks need: the providers' adapters and Telegram's secret."""

    telegram: TelegramStars | None = None
    telegram_webhook_secret: str | None = attrs.field(default=None, repr=False)
    stripe: StripeCheckout | None = None


def load_packs(settings: Settings) -> PackCatalogue:
    if settings.credit_packs_file is None:
        return builtin_packs()
    try:
        return read_packs_file(settings.credit_packs_file)
    except InvalidRegistry as error:
        raise SettingsError("BASE_CREDIT_PACKS_FILE", error.message) from error


@contextlib.asynccontextmanager
async def open_payments(settings: Settings) -> AsyncIterator[tuple[dict[Provider, PaymentGateway], Payments]]:
    """Telegram Stars when the bot and its webhook secret are set, Stripe when its keys are."""
    gateways: dict[Provider, PaymentGateway] = {}
    telegram = stripe = None
    if settings.sells_with_telegram and settings.telegram_bot_token:
        telegram = TelegramStars(settings.telegram_bot_token, settings.telegram_api_url)
        gateways[Provider.TELEGRAM] = telegram
    if settings.sells_with_stripe and settings.stripe_secret_key:
        stripe = StripeCheckout(
            settings.stripe_secret_key, settings.stripe_webhook_secret,
            settings.public_url or settings.outputs_base_url, settings.stripe_api_url,
        )
        gateways[Provider.STRIPE] = stripe
    try:
        yield gateways, Payments(telegram, settings.telegram_webhook_secret, stripe)
    finally:
        if telegram is not None:
            await telegram.aclose()
        if stripe is not None:
            await stripe.aclose()


def load_registry(settings: Settings) -> ModelRegistry:
    if settings.models_file is None:
        return builtin_registry()
    try:
        return read_models_file(settings.models_file)
    except InvalidRegistry as error:
        raise SettingsError("BASE_MODELS_FILE", error.message) from error


def studio_config(settings: Settings) -> StudioConfig:
    from adapters.replicate import webhook_target

    return StudioConfig(
        initial_credits=settings.initial_credits,
        max_in_flight_per_user=settings.max_in_flight_per_user,
        webhook=webhook_target(settings.public_url),
        urls=UrlPolicy(allow_private_hosts=settings.allow_private_image_urls),
        admin_user_ids=settings.admin_user_ids,
    )


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL, or None for other databases and in-memory SQLite."""
    if not database_url.startswith("sqlite"):
        return None
    _, _, rest = database_url.partition(":///")
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


SESSION_SECRET_NAME = "session"

SecretStore = Callable[[str, Callable[[], str]], Awaitable[str]]


async def resolve_session_secret(settings: Settings, store: SecretStore | None) -> str:
    """BASE_SESSION_SECRET, else one generated for this database on first start.

    A SQL database keeps it in its `service_secrets` table, so every process serving that
    database (SQLite file or PostgreSQL) signs and accepts the same session tokens; an
    in-memory database gets a fresh one per process.
    """
    if settings.session_secret:
        return settings.session_secret
    if store is None:
        return _new_secret()
    return await store(SESSION_SECRET_NAME, _new_secret)


def _new_secret() -> str:
    return secrets.token_urlsafe(48)


def build_verifiers(
    settings: Settings, sessions: SessionTokens
) -> tuple[IdentityVerifier, TelegramInitDataVerifier | None]:
    supabase = (
        SupabaseJwtVerifier(settings.supabase_url, settings.supabase_jwt_secret)
        if settings.supabase_url or settings.supabase_jwt_secret
        else None
    )
    telegram = (
        TelegramInitDataVerifier(settings.telegram_bot_token) if settings.telegram_bot_token else None
    )
    from adapters.auth.remembered import RememberedTokens
    from entrypoints.features import SUPABASE

    missing = SUPABASE.not_configured() if supabase is None else None
    # A polling client sends the same token every time: verified once, remembered briefly.
    verifier = BearerVerifier(session=sessions, supabase=supabase, supabase_missing=missing)
    return RememberedTokens(verifier), telegram


@attrs.frozen
class Overrides:
    """Pieces tests and the demo may supply instead of the ones built from settings."""

    inference: InferenceProvider | None = None
    webhooks: WebhookVerifier | None = None
    clock: Clock | None = None
    ids: IdFactory | None = None
    outputs: OutputStore | None = None


@contextlib.asynccontextmanager
async def open_database(
    settings: Settings,
) -> AsyncIterator[tuple[UnitOfWorkFactory, Ping, SecretStore | None, SchemaProbe]]:
    if settings.is_memory:
        from adapters.memory import MemoryStore

        yield MemoryStore(), _always_up, None, _no_schema
        return
    from adapters.sql import SqlDatabase

    db = SqlDatabase.from_url(settings.database_url)

    async def schema_problem() -> str | None:
        return (await db.schema_state()).problem

    try:
        path = sqlite_path(settings.database_url)
        # A schema this code cannot serve stops here: missing or behind on PostgreSQL
        # ("run `base migrate`"), newer than the code anywhere.
        await check_schema(db, migrates_itself=path is not None)
        if path is not None:
            # The embedded default should just work: bring a SQLite file up to date.
            await db.migrate()
        yield db, db.ping, db.service_secret, schema_problem
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def open_replicate(
    settings: Settings, uow: UnitOfWorkFactory, clock: Clock, overrides: Overrides
) -> AsyncIterator[tuple[InferenceProvider, WebhookVerifier]]:
    if overrides.inference is not None and overrides.webhooks is not None:
        yield overrides.inference, overrides.webhooks
        return
    from adapters.replicate import ReplicateInference, ReplicateWebhooks

    replicate = ReplicateInference(settings.replicate_base_url)
    inference: InferenceProvider = overrides.inference or replicate
    webhooks = overrides.webhooks or ReplicateWebhooks.build(
        uow, replicate.webhook_secret, clock, settings.replicate_webhook_secret
    )
    try:
        yield inference, webhooks
    finally:
        await replicate.aclose()


@contextlib.asynccontextmanager
async def open_outputs(settings: Settings, overrides: Overrides) -> AsyncIterator[OutputStore]:
    """The output store BASE_OUTPUT_STORE names (default: the directory BASE_OUTPUT_DIR)."""
    if overrides.outputs is not None:
        yield overrides.outputs
        return
    store = build_output_store(settings.output_store_url, settings)
    try:
        yield store
    finally:
        await store.aclose()


def build_output_store(url: str, settings: Settings) -> ObjectOutputStore:
    """An ObjectOutputStore for `file://<dir>` or `s3://<bucket>/<prefix>`."""
    from adapters.storage import parse_store_url

    try:
        scheme, where, prefix = parse_store_url(url)
    except ValueError as error:
        raise SettingsError("BASE_OUTPUT_STORE", str(error)) from None
    if scheme == "file":
        return ObjectOutputStore.local(Path(where))
    return ObjectOutputStore.s3(
        where, prefix,
        endpoint=settings.s3_endpoint_url,
        region=settings.s3_region or os.environ.get("AWS_REGION") or "us-east-1",
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
    )


def output_links(settings: Settings, store: OutputStore | None) -> OutputLinks:
    """How stored objects are linked: BASE_OUTPUT_URL, signed URLs, or our own /outputs."""
    return OutputLinks(
        store=store, public_base=settings.output_url, service_base=settings.public_url,
        presign_seconds=settings.output_presign_seconds,
    )


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, overrides: Overrides | None = None, *, background: bool = True
) -> AsyncIterator[Services]:
    """Build every service from `settings`; `background=False` skips the poller (CLI)."""
    overrides = overrides or Overrides()
    registry = load_registry(settings)
    packs = load_packs(settings)
    async with contextlib.AsyncExitStack() as stack:
        clock = overrides.clock or SystemClock()
        uow, ping, secret_store, schema = await stack.enter_async_context(open_database(settings))
        sessions = SessionTokens(await resolve_session_secret(settings, secret_store))
        bearer, telegram = build_verifiers(settings, sessions)
        inference, webhooks = await stack.enter_async_context(
            open_replicate(settings, uow, clock, overrides)
        )
        outputs = await stack.enter_async_context(open_outputs(settings, overrides))
        gateways, payments = await stack.enter_async_context(open_payments(settings))
        metrics = Metrics(vitals=lambda: studio.vitals())
        dispatcher = logging_dispatcher()
        metrics.subscribe(dispatcher)
        webhooks = MeasuredWebhooks(webhooks, metrics)
        links = output_links(settings, outputs)
        context = Context(
            uow=counting_duplicates(uow, metrics),
            inference=MeasuredInference(inference, metrics, TokenLabels(uow)),
            registry=registry,
            clock=clock,
            ids=overrides.ids or UuidIds(),
            config=studio_config(settings),
            dispatcher=dispatcher,
            outputs=outputs,
            packs=packs,
            payments=gateways,
            links=links,
        )
        live = await stack.enter_async_context(open_live(settings, context, uow))
        metrics.watch_streams(lambda: live.open_streams)
        studio = Studio(context)
        if settings.replicate_tokens:
            await studio.ensure_tokens(settings.replicate_tokens)
        poller: Poller | None = None
        if background:
            from entrypoints.features import announce_unconfigured

            announce_unconfigured(settings, log)
            poller = await stack.enter_async_context(_polling(studio, settings, metrics))
            if settings.metrics_bind is not None:
                await stack.enter_async_context(serving_metrics(metrics, settings.metrics_bind))
        ops = Operations(metrics=metrics, metrics_token=settings.metrics_token, schema=schema, poller=poller)
        yield Services(
            studio=studio,
            bearer=bearer,
            webhooks=webhooks,
            sessions=sessions,
            telegram=telegram,
            ping=ping,
            payments=payments,
            ops=ops,
            links=links,
            max_upload_bytes=settings.max_upload_bytes,
            settings=settings,
            live=live,
        )


@contextlib.asynccontextmanager
async def open_live(settings: Settings, context: Context, database: UnitOfWorkFactory) -> AsyncIterator[LiveHub]:
    """The live feed for this database, fed by the domain events after every commit.

    PostgreSQL: LISTEN on a connection of its own; the NOTIFY goes out in the transaction
    of each unit of work of `database` that commits a change.
    Memory and SQLite: in this process; on SQLite the streams also re-read the file, since
    other processes may write it.
    """
    from adapters.feed import LocalFeed
    from base_core.events import GenerationEvent
    from base_core.feed import ChangeFeed, publish_changes

    def hub_on(feed: ChangeFeed, always_poll: bool = False) -> LiveHub:
        return LiveHub(
            feed,
            max_streams_per_user=settings.live_streams_per_user,
            poll_interval=settings.live_poll_seconds,
            keepalive=settings.live_keepalive_seconds,
            always_poll=always_poll,
            cache=settings.live_cache,
        )

    if not settings.database_url.startswith("postgresql"):
        local = LocalFeed()
        hub = hub_on(local, always_poll=not settings.is_memory)
        context.dispatcher.subscribe(publish_changes(local), GenerationEvent)
        yield hub
        return
    from adapters.feed.postgres import PostgresFeed
    from adapters.sql import SqlDatabase

    db = SqlDatabase.from_url(settings.database_url, pool_size=2, max_overflow=4)
    feed = PostgresFeed(db.engine, db.url, db.schema)
    hub = hub_on(feed)
    try:
        await feed.start()
        if isinstance(database, SqlDatabase):
            database.before_commit = feed.announce
        context.dispatcher.subscribe(publish_changes(feed), GenerationEvent)
        yield hub
    finally:
        if isinstance(database, SqlDatabase):
            database.before_commit = None
        await feed.aclose()
        await db.dispose()


@contextlib.asynccontextmanager
async def _polling(studio: Studio, settings: Settings, metrics: Metrics) -> AsyncIterator[Poller]:
    """Ask Replicate about running generations: all the time when no webhook can reach us,
    and for the ones that went quiet (a lost webhook) when one can."""
    from base_core.usecases.reconcile import ReconcilePolicy

    poller = studio.background(
        reconcile_after=settings.reconcile_after_seconds,
        webhooks=settings.public_url is not None,
        reconcile=ReconcilePolicy.after(settings.reconcile_after_seconds, settings.pending_after_seconds),
        report=_log_background_problem,
        reconciled=metrics.on_reconciled,
    )
    await poller.start()
    try:
        yield poller
    finally:
        # The round under way finishes (its units of work are whole either way).
        await poller.stop(settings.shutdown_seconds)


@contextlib.asynccontextmanager
async def serving_metrics(metrics: Metrics, bind: str) -> AsyncIterator[None]:
    """/metrics alone on BASE_METRICS_BIND (prometheus_client's own server, on a thread)."""
    import asyncio

    from prometheus_client import start_http_server

    host, _, port = bind.rpartition(":")
    metrics.vitals.bind_loop(asyncio.get_running_loop())
    try:
        server, thread = start_http_server(int(port), host.strip("[]"), registry=metrics.registry)
    except OSError as error:
        raise StartupRefused(f"BASE_METRICS_BIND: cannot listen on {bind} ({error.strerror})") from None
    log.info("metrics on http://%s/metrics", bind)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _log_background_problem(problem: str, error: BaseException | None) -> None:
    log.warning("%s", problem, exc_info=error)


__all__ = ["Operations", "Overrides", "Payments", "Services", "open_services", "resolve_session_secret"]
