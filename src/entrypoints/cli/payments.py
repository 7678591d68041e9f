"""Operator commands for purchases: `base telegram set-webhook`, `base payments list|refund`,
`base credits audit`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from base_core.errors import BaseError
from base_core.purchases import PurchaseQuery, PurchaseStatus
from entrypoints.bootstrap import open_services
from entrypoints.cli.database import require_existing
from entrypoints.settings import Settings


def add_commands(commands: Any) -> None:
    telegram = commands.add_parser("telegram", help="the Telegram bot (payments in Stars)")
    telegram_actions = telegram.add_subparsers(dest="action", required=True, metavar="ACTION")
    hook = telegram_actions.add_parser(
        "set-webhook", help="register BASE_PUBLIC_URL/api/webhook/telegram with the webhook secret"
    )
    hook.set_defaults(handler=cmd_set_webhook)

    payments = commands.add_parser("payments", help="purchases of credit packs")
    actions = payments.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="purchases, newest first")
    listing.add_argument("--status", choices=[s.value for s in PurchaseStatus], default=None)
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=cmd_list)
    refund = actions.add_parser("refund", help="refund a purchase at its provider, then take back its credits")
    refund.add_argument("purchase_id")
    refund.set_defaults(handler=cmd_refund)


def add_credit_commands(credit_actions: Any) -> None:
    audit = credit_actions.add_parser(
        "audit", help="check every balance against its ledger and every paid purchase against its pack"
    )
    audit.set_defaults(handler=cmd_audit)


def cmd_set_webhook(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not settings.telegram_bot_token or not settings.telegram_webhook_secret or not settings.public_url:
        print("base: set BASE_TELEGRAM_BOT_TOKEN, BASE_TELEGRAM_WEBHOOK_SECRET and BASE_PUBLIC_URL", file=sys.stderr)
        return 2
    from adapters.payments import TelegramStars
    from adapters.payments.telegram_stars import WEBHOOK_PATH

    url = f"{settings.public_url}{WEBHOOK_PATH}"

    async def run() -> None:
        telegram = TelegramStars(settings.telegram_bot_token or "", settings.telegram_api_url)
        try:
            await telegram.set_webhook(url, settings.telegram_webhook_secret or "")
        finally:
            await telegram.aclose()

    return _run(run(), f"Telegram will send updates to {url}")


def cmd_list(args: argparse.Namespace) -> int:
    async def run() -> None:
        async with open_services(_existing(), background=False) as services:
            status = PurchaseStatus(args.status) if args.status else None
            for p in await services.studio.purchases(PurchaseQuery(status=status, limit=args.limit)):
                review = f"  review: {p.review_reason}" if p.review_reason else ""
                print(
                    f"{p.id}  {p.created_at.isoformat(timespec='seconds')}  {p.provider.value:<8} "
                    f"{p.status.value:<8} {p.pack_id:<12} {p.credits:>6} credits  {p.amount} {p.currency}  "
                    f"user {p.user_id}  refunded {p.deducted} shortfall {p.shortfall}{review}"
                )

    return _run(run())


def cmd_refund(args: argparse.Namespace) -> int:
    async def run() -> None:
        async with open_services(_existing(), background=False) as services:
            p = await services.studio.refund_purchase(args.purchase_id)
            print(f"{p.id}: {p.status.value}, {p.deducted} credits taken back, shortfall {p.shortfall}")

    return _run(run())


def cmd_audit(args: argparse.Namespace) -> int:
    problems: list[str] = []

    async def run() -> None:
        async with open_services(_existing(), background=False) as services:
            problems.extend(await services.studio.audit())

    code = _run(run())
    if code:
        return code
    for problem in problems:
        print(problem)
    if problems:
        print(f"base: {len(problems)} difference(s) in the books", file=sys.stderr)
        return 1
    print("the books agree: every balance is its ledger's sum, every paid purchase credited its pack")
    return 0


def _existing() -> Settings:
    """The service's settings, refusing a SQLite file that does not exist."""
    settings = Settings.from_env()
    require_existing(settings)
    return settings


def _run(work: Any, done: str | None = None) -> int:
    try:
        asyncio.run(work)
    except BaseError as error:
        print(f"base: {error.message}", file=sys.stderr)
        return 1
    if done:
        print(done)
    return 0
