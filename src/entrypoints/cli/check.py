"""`base check`: every start-up check, plus what the service reaches, as a table.

Settings, the database and its schema, each Replicate token (a cheap authenticated call,
`GET /v1/account`), Supabase's JWKS, the output store (a probe object written, read back
and deleted), the payment providers (Telegram's `getMe`, Stripe's balance). Each row is `ok`, `FAIL` or `skip`
(not configured); the exit status is 1 when any row failed. Nothing is changed anywhere:
the database is not migrated and no token is added to the pool.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from entrypoints.settings import Settings, SettingsError

OK, FAIL, SKIP = "ok", "FAIL", "skip"
CHECK_TIMEOUT_SECONDS = 10.0


@attrs.frozen
class Row:
    check: str
    result: str
    detail: str = ""


Check = Callable[[Settings], Awaitable[list[Row]]]


def add_commands(commands: Any) -> None:
    check = commands.add_parser(
        "check", help="check the settings and everything the service reaches; print a table"
    )
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    rows = asyncio.run(run_checks(os.environ))
    print(render(rows))
    return 1 if any(row.result == FAIL for row in rows) else 0


async def run_checks(environ: Any) -> list[Row]:
    try:
        settings = Settings.from_env(environ)
        from entrypoints.bootstrap import load_registry

        load_registry(settings)
    except SettingsError as error:
        return [Row("settings", FAIL, str(error))]
    rows = [Row("settings", OK, "every BASE_* variable is valid")]
    for check in CHECKS:
        try:
            rows += await asyncio.wait_for(check(settings), CHECK_TIMEOUT_SECONDS * 2)
        except TimeoutError:
            rows.append(Row(check.__name__.removeprefix("check_"), FAIL, "timed out"))
    return rows


async def check_database(settings: Settings) -> list[Row]:
    if settings.is_memory:
        return [Row("database", OK, "memory:// (nothing to reach)"), Row("migrations", SKIP, "memory://")]
    from adapters.sql import SqlDatabase
    from base_core.errors import InfrastructureError
    from entrypoints.bootstrap import sqlite_path

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return [
            Row("database", OK, f"{path} does not exist yet: `base serve` creates it"),
            Row("migrations", SKIP, "a new SQLite file is migrated on start"),
        ]
    db = SqlDatabase.from_url(settings.database_url, pool_size=1, max_overflow=0)
    try:
        try:
            await asyncio.wait_for(db.ping(), CHECK_TIMEOUT_SECONDS)
        except (InfrastructureError, TimeoutError) as error:
            detail = getattr(error, "message", "") or "no answer"
            return [Row("database", FAIL, f"{db!r}: {detail}"), Row("migrations", SKIP, "no database")]
        state = await db.schema_state()
        if state.problem is None:
            schema = Row("migrations", OK, f"at {state.head}")
        elif path is not None and state.known:
            schema = Row("migrations", OK, f"{state.problem} (`base serve` migrates a SQLite file itself)")
        else:
            schema = Row("migrations", FAIL, state.problem)
        return [Row("database", OK, repr(db)), schema]
    finally:
        await db.dispose()


async def check_replicate(settings: Settings) -> list[Row]:
    from adapters.replicate import ReplicateInference
    from base_core.errors import BaseError
    from base_core.ports import TokenCredential
    from base_core.tokens import mask_secret

    tokens = await _pool(settings)
    if not tokens:
        return [Row("replicate", FAIL, "no token: set BASE_REPLICATE_TOKENS or run `base tokens add`")]
    replicate = ReplicateInference(settings.replicate_base_url, timeout=CHECK_TIMEOUT_SECONDS)
    rows: list[Row] = []
    try:
        for label, secret in tokens:
            name = f"replicate token {label} ({mask_secret(secret)})"
            try:
                account = await replicate.account(TokenCredential(token_id=label, secret=secret))
                # A stand-in may name the account after its token: never print a secret.
                rows.append(Row(name, OK, f"account {account.replace(secret, mask_secret(secret))}"))
            except BaseError as error:
                rows.append(Row(name, FAIL, error.message))
    finally:
        await replicate.aclose()
    return rows


async def _pool(settings: Settings) -> list[tuple[str, str]]:
    """(label, secret) of the pool's enabled tokens and the configured ones."""
    found: dict[str, str] = {}
    if not settings.is_memory:
        from adapters.sql import SqlDatabase

        db = SqlDatabase.from_url(settings.database_url, pool_size=1, max_overflow=0)
        try:
            if (await db.schema_state()).problem is None:
                async with db.unit_of_work() as uow:
                    for token in await uow.tokens.all():
                        if token.is_active:
                            found.setdefault(token.secret, token.label)
        except Exception:  # noqa: BLE001, S110 - the database row already says what is wrong with it
            pass
        finally:
            await db.dispose()
    for place, secret in enumerate(settings.replicate_tokens, start=1):
        found.setdefault(secret, f"#{place} of BASE_REPLICATE_TOKENS")  # a label, never the secret
    return [(label, secret) for secret, label in found.items()]


async def check_supabase(settings: Settings) -> list[Row]:
    if settings.supabase_url is None:
        detail = "HS256 secret only" if settings.supabase_jwt_secret else "BASE_SUPABASE_URL not set"
        return [Row("supabase jwks", SKIP, detail)]
    import httpx

    from adapters.auth.jwks import parse_jwks

    url = f"{settings.supabase_url}/auth/v1/.well-known/jwks.json"
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
            response.raise_for_status()
            keys = parse_jwks(response.json())
    except (httpx.HTTPError, ValueError) as error:
        return [Row("supabase jwks", FAIL, f"{url}: {type(error).__name__}: {error}")]
    return [Row("supabase jwks", OK, f"{len(keys)} signing key(s) at {url}")]


async def check_output_store(settings: Settings) -> list[Row]:
    """Write, read back and delete a probe object in the store BASE_OUTPUT_STORE names."""
    import uuid

    from base_core.errors import BaseError
    from entrypoints.bootstrap import build_output_store

    store = build_output_store(settings.output_store_url, settings)
    probe = f"uploads/{uuid.uuid4().hex}.png"  # a key the store accepts; removed at once
    try:
        await store.put(probe, b"base check probe", "image/png")
        found = await store.exists(probe)
        await store.delete([probe])
    except BaseError as error:
        return [Row("output store", FAIL, f"{store.describe}: {error.message}")]
    finally:
        await store.aclose()
    if not found:
        return [Row("output store", FAIL, f"{store.describe}: a written object could not be read back")]
    return [Row("output store", OK, f"{store.describe} is writable; served at {settings.outputs_base_url}/outputs")]


async def check_payments(settings: Settings) -> list[Row]:
    """The bot's token (`getMe`) and Stripe's secret key (the balance), where configured."""
    from base_core.errors import BaseError

    rows: list[Row] = []
    if settings.telegram_bot_token:
        from adapters.payments import TelegramStars

        bot = TelegramStars(settings.telegram_bot_token, settings.telegram_api_url, timeout=CHECK_TIMEOUT_SECONDS)
        try:
            me = await bot.call("getMe", {})
            stars = "Stars on" if settings.sells_with_telegram else "Stars off: BASE_TELEGRAM_WEBHOOK_SECRET not set"
            rows.append(Row("telegram bot", OK, f"@{me.get('username')} ({stars})"))
        except BaseError as error:
            rows.append(Row("telegram bot", FAIL, error.message))
        finally:
            await bot.aclose()
    else:
        rows.append(Row("telegram bot", SKIP, "BASE_TELEGRAM_BOT_TOKEN not set"))
    if settings.stripe_secret_key:
        from adapters.payments import StripeCheckout

        stripe = StripeCheckout(
            settings.stripe_secret_key, settings.stripe_webhook_secret, settings.outputs_base_url,
            settings.stripe_api_url, timeout=CHECK_TIMEOUT_SECONDS,
        )
        try:
            mode = await stripe.mode()
            hook = "" if settings.stripe_webhook_secret else "; BASE_STRIPE_WEBHOOK_SECRET not set: no payments"
            rows.append(Row("stripe", OK, f"the key works ({mode}){hook}"))
        except BaseError as error:
            rows.append(Row("stripe", FAIL, error.message))
        finally:
            await stripe.aclose()
    else:
        rows.append(Row("stripe", SKIP, "BASE_STRIPE_SECRET_KEY not set"))
    return rows


CHECKS: list[Check] = [check_database, check_replicate, check_supabase, check_output_store, check_payments]


def render(rows: list[Row]) -> str:
    width = max(len("check"), *(len(row.check) for row in rows))
    lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{row.check:<{width}}  {row.result:<6}  {row.detail}".rstrip() for row in rows]
    return "\n".join(lines)


__all__ = ["CHECKS", "Row", "cmd_check", "render", "run_checks"]
