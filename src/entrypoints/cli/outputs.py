"""`base outputs migrate --to s3://<bucket>/<prefix>`: move the stored copies and uploads.

The database holds keys, not URLs (migration 0006 converted the absolute URLs older
versions stored, and runs first here), so moving the objects is all a move takes: every
object of the current store (BASE_OUTPUT_STORE, default the directory BASE_OUTPUT_DIR, or
`--from`) is copied under the same key into the target, with its content type. An object
already in the target with the same size is skipped, so an interrupted run is resumed by
running it again. Nothing is deleted from the source; once the copy is complete, set
BASE_OUTPUT_STORE to the target and restart.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from entrypoints.bootstrap import build_output_store
from entrypoints.settings import Settings, SettingsError


def add_commands(commands: Any) -> None:
    outputs = commands.add_parser("outputs", help="the output store (copies of results, uploads)")
    actions = outputs.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = actions.add_parser(
        "migrate", help="copy every stored object to another store (resumable; deletes nothing)"
    )
    migrate.add_argument("--to", required=True, help="s3://<bucket>/<prefix> or file://<dir>")
    migrate.add_argument("--from", dest="source", default=None, help="default: BASE_OUTPUT_STORE / BASE_OUTPUT_DIR")
    migrate.set_defaults(handler=cmd_migrate_outputs)


def cmd_migrate_outputs(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    source_url = args.source or settings.output_store_url
    if source_url.rstrip("/") == args.to.rstrip("/"):
        raise SettingsError("--to", "is the store the objects are already in")
    if not settings.is_memory:
        from adapters.sql.migrations import upgrade

        upgrade(settings.database_url)  # rows written before 0006 hold URLs: now keys
    return asyncio.run(_migrate(settings, source_url, args.to))


async def _migrate(settings: Settings, source_url: str, target_url: str) -> int:
    source = build_output_store(source_url, settings)
    target = build_output_store(target_url, settings)
    copied = skipped = 0
    try:
        keys = await source.keys()
        print(f"{len(keys)} objects in {source.describe}", flush=True)
        for key in keys:
            size = await source.size_of(key)
            if size is not None and await target.size_of(key) == size:
                skipped += 1
                continue
            await source.copy_into(target, key)
            copied += 1
            if copied % 100 == 0:
                print(f"  {copied} copied", flush=True)
    finally:
        await source.aclose()
        await target.aclose()
    print(
        f"copied {copied}, already there {skipped}, into {target.describe}. "
        f"Set BASE_OUTPUT_STORE={target_url} and restart to serve from there.",
        flush=True,
    )
    return 0


__all__ = ["add_commands"]
