"""The `base` command: serve the API, run the demo or the simulator, operate the pool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from entrypoints.cli import check, operate, outputs, payments, reconcile, run
from entrypoints.cli.database import MissingDatabase, add_database_option, database_option
from entrypoints.settings import SettingsError
from entrypoints.startup import StartupRefused


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="base",
        description=".base: the backend of an AI image studio. Settings come from BASE_* "
        "environment variables (see README.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.add_commands(commands)
    operate.add_commands(commands)
    reconcile.add_commands(commands)
    payments.add_commands(commands)
    outputs.add_commands(commands)
    check.add_commands(commands)
    add_database_option(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        with database_option(args):
            result = args.handler(args)
    except MissingDatabase as error:
        print(f"base: {error}", file=sys.stderr)
        return 1
    except SettingsError as error:
        print(f"base: bad setting {error}", file=sys.stderr)
        return 2
    except StartupRefused as error:
        print(f"base: cannot start: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


__all__ = ["build_parser", "main"]
