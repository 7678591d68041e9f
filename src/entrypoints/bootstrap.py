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
from base_core.errors import InvalidRegistry
from base_core.ports import (
    Clock,
    IdFactory,
    InferenceProvider,
    OutputStore,
    UnitOfWorkFactory,
    WebhookVerifier,
)
from entrypoints.event_log import logging_dispatcher
from entrypoints.live import LiveHub
from entrypoints.models_file import read_models_file
from entrypoints.settings import Settings, SettingsError

log = logging.getLogger("base")

Ping = Callable[[], Awaitable[None]]


async def _always_up() -> None:
    return None


@attrs.frozen
class Services:
    """Everything the HTTP API and the CLI need, already built."""

    studio: Studio
    bearer: IdentityVerifier
    webhooks: WebhookVerifier
    sessions: SessionTokens
    telegram: TelegramInitDataVerifier | None = None
    ping: Ping = _always_up  # raises when the database does not answer
    live: LiveHub | None = None  # the live feed's listener, streams and poll cache


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

    # A polling client sends the same token every time: verified once, remembered briefly.
    return RememberedTokens(BearerVerifier(session=sessions, supabase=supabase)), telegram


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
) -> AsyncIterator[tuple[UnitOfWorkFactory, Ping, SecretStore | None]]:
    if settings.is_memory:
        from adapters.memory import MemoryStore

        yield MemoryStore(), _always_up, None
        return
    from adapters.sql import SqlDatabase

    db = SqlDatabase.from_url(settings.database_url)
    try:
        path = sqlite_path(settings.database_url)
        if path is not None:
            # The embedded default should just work: bring a SQLite file up to date.
            await db.migrate()
        yield db.unit_of_work, db.ping, db.service_secret
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
    """The local output store under BASE_OUTPUT_DIR, its copies served at BASE_OUTPUT_URL."""
    if overrides.outputs is not None:
        yield overrides.outputs
        return
    from adapters.storage import LocalOutputStore

    store = LocalOutputStore(settings.output_dir, settings.outputs_base_url)
    try:
        yield store
    finally:
        await store.aclose()


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, overrides: Overrides | None = None, *, background: bool = True
) -> AsyncIterator[Services]:
    """Build every service from `settings`; `background=False` skips the poller (CLI)."""
    overrides = overrides or Overrides()
    registry = load_registry(settings)
    async with contextlib.AsyncExitStack() as stack:
        clock = overrides.clock or SystemClock()
        uow, ping, secret_store = await stack.enter_async_context(open_database(settings))
        sessions = SessionTokens(await resolve_session_secret(settings, secret_store))
        bearer, telegram = build_verifiers(settings, sessions)
        inference, webhooks = await stack.enter_async_context(
            open_replicate(settings, uow, clock, overrides)
        )
        outputs = await stack.enter_async_context(open_outputs(settings, overrides))
        context = Context(
            uow=uow,
            inference=inference,
            registry=registry,
            clock=clock,
            ids=overrides.ids or UuidIds(),
            config=studio_config(settings),
            dispatcher=logging_dispatcher(),
            outputs=outputs,
        )
        live = await stack.enter_async_context(open_live(settings, context))
        studio = Studio(context)
        if settings.replicate_tokens:
            await studio.ensure_tokens(settings.replicate_tokens)
        if background:
            await stack.enter_async_context(_polling(studio, settings))
        yield Services(
            studio=studio,
            bearer=bearer,
            webhooks=webhooks,
            sessions=sessions,
            telegram=telegram,
            ping=ping,
            live=live,
        )


@contextlib.asynccontextmanager
async def open_live(settings: Settings, context: Context) -> AsyncIterator[LiveHub]:
    """The live feed for this database, fed by the domain events after every commit.

    PostgreSQL: LISTEN/NOTIFY, on a connection of its own and a small pool for NOTIFY.
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
        context.dispatcher.subscribe(publish_changes(feed), GenerationEvent)
        yield hub
    finally:
        await feed.aclose()
        await db.dispose()


@contextlib.asynccontextmanager
async def _polling(studio: Studio, settings: Settings) -> AsyncIterator[None]:
    """Ask Replicate about running generations: all the time when no webhook can reach us,
    and for the ones that went quiet (a lost webhook) when one can."""
    from base_core.usecases.reconcile import ReconcilePolicy

    poller = studio.background(
        reconcile_after=settings.reconcile_after_seconds,
        webhooks=settings.public_url is not None,
        reconcile=ReconcilePolicy.after(settings.reconcile_after_seconds, settings.pending_after_seconds),
        report=_log_background_problem,
    )
    async with poller:
        yield


def _log_background_problem(problem: str, error: BaseException | None) -> None:
    log.warning("%s", problem, exc_info=error)


__all__ = ["Overrides", "Services", "open_services", "resolve_session_secret"]
