"""Operator commands: migrate, tokens, credits, models. Each opens the services once."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from base_core import Studio
from base_core.errors import BaseError
from base_core.usecases.tokens import check_replicate_shape
from entrypoints.bootstrap import load_registry, open_services, sqlite_path
from entrypoints.cli import payments
from entrypoints.cli.database import require_existing
from entrypoints.settings import Settings


def add_commands(commands: Any) -> None:
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=cmd_migrate)

    tokens = commands.add_parser("tokens", help="the Replicate token pool")
    actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a token (adding one twice is harmless)")
    add.add_argument("token", help="the Replicate API token (r8_...)")
    add.add_argument("--label", default=None, help="a name for it (default: from its id)")
    add.add_argument(
        "--force", action="store_true", help="add it even if it does not look like a Replicate token"
    )
    add.set_defaults(handler=cmd_add_token)
    listing = actions.add_parser("list", help="list tokens (secrets masked)")
    listing.set_defaults(handler=lambda a: _studio(_list_tokens, existing=True))
    stats = actions.add_parser("stats", help="usage and error counts per token, with totals")
    stats.set_defaults(handler=lambda a: _studio(_token_stats, existing=True))
    for name, active in (("enable", True), ("disable", False)):
        toggle = actions.add_parser(name, help=f"{name} a token by id")
        toggle.add_argument("token_id")
        toggle.set_defaults(
            handler=lambda a, active=active: _studio(
                lambda s: _set_active(s, a.token_id, active), existing=True
            )
        )

    credits = commands.add_parser("credits", help="users' credits")
    credit_actions = credits.add_subparsers(dest="action", required=True, metavar="ACTION")
    grant = credit_actions.add_parser("grant", help="grant (or, negative, deduct) credits")
    grant.add_argument("user_id")
    grant.add_argument("amount", type=int, help="credits to add; negative to deduct")
    grant.add_argument("--reason", default="granted from the command line")
    grant.set_defaults(
        handler=lambda a: _studio(lambda s: _grant(s, a.user_id, a.amount, a.reason), existing=True)
    )
    payments.add_credit_commands(credit_actions)

    models = commands.add_parser("models", help="the model catalogue")
    model_actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    model_list = model_actions.add_parser("list", help="list models with their prices")
    model_list.set_defaults(handler=cmd_models_list)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if settings.is_memory:
        print("memory:// needs no migrations")
        return 0
    from adapters.sql.migrations import current, upgrade

    path = sqlite_path(settings.database_url)
    created = path is not None and not path.exists()
    before = None if created else current(settings.database_url)
    upgrade(settings.database_url)
    after = current(settings.database_url)
    where = str(path.resolve()) if path is not None else "the database"
    if created:
        print(f"created {where} and migrated it to {after}")
    elif before == after:
        print(f"{where} is already at {after}: nothing to apply")
    else:
        print(f"migrated {where} from {before or 'an empty schema'} to {after}")
    return 0


def cmd_add_token(args: argparse.Namespace) -> int:
    try:
        check_replicate_shape(args.token, args.force)
    except BaseError as error:
        print(f"base: {error.message}", file=sys.stderr)
        return 1
    return _studio(lambda s: _add_token(s, args.token, args.label))


def cmd_models_list(args: argparse.Namespace) -> int:
    for model in load_registry(Settings.from_env()):
        print(f"{model.id:<20} {model.action.value:<10} {model.price:>3} credit(s)  {model.display_name}")
    return 0


def _studio(work: Callable[[Studio], Awaitable[None]], *, existing: bool = False) -> int:
    """Run `work` on the studio; `existing` commands refuse a database that is not there."""
    settings = Settings.from_env()
    if existing:
        require_existing(settings)

    async def run() -> None:
        async with open_services(settings, background=False) as services:
            await work(services.studio)

    try:
        asyncio.run(run())
    except BaseError as error:
        print(f"base: {error.message}", file=sys.stderr)
        return 1
    return 0


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"  # type: ignore[attr-defined]


async def _add_token(studio: Studio, secret: str, label: str | None) -> None:
    token = await studio.add_token(secret, label)
    print(f"{token.id}  {token.label}  {token.masked}")


async def _list_tokens(studio: Studio) -> None:
    stats = await studio.token_stats()
    for token in stats.tokens:
        state = "active" if token.is_active else f"inactive ({token.disabled_reason or '-'})"
        print(f"{token.id}  {token.label:<20} {token.masked:<14} {state}")


async def _token_stats(studio: Studio) -> None:
    stats = await studio.token_stats()
    print(f"{'id':<36}  {'requests':>8}  {'errors':>6}  {'error %':>7}  last used  cooldown until")
    for t in stats.tokens:
        rate = "-" if t.error_rate_percent is None else f"{t.error_rate_percent:.2f}"
        print(f"{t.id:<36}  {t.request_count:>8}  {t.error_count:>6}  {rate:>7}  "
              f"{_when(t.last_used_at)}  {_when(t.cooldown_until)}")
    totals = stats.totals
    print(f"tokens {totals.total_tokens} (active {totals.active_tokens}), "
          f"requests {totals.total_requests}, errors {totals.total_errors}")


async def _set_active(studio: Studio, token_id: str, active: bool) -> None:
    token = await studio.set_token_active(token_id, active)
    print(f"{token.id}  {'active' if token.is_active else 'inactive'}")


async def _grant(studio: Studio, user_id: str, amount: int, reason: str) -> None:
    balance = await studio.adjust_credits(user_id, amount, reason)
    print(f"{user_id}  credits {balance}")
