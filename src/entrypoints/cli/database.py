"""Which database a command works on, and refusing to invent one.

Every command takes `--database` (a SQLite file or a database URL); without it the
command reads BASE_DATABASE_URL like the service does. A command that only reads or
changes what a database already holds refuses to run on a SQLite file that does not
exist, naming the path it looked for, instead of creating an empty one and reporting on
that.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from entrypoints.bootstrap import sqlite_path
from entrypoints.settings import Settings

DATABASE_VARIABLE = "BASE_DATABASE_URL"
DEMO_DATABASE = Path("base-demo") / "base-demo.db"
_FROM_OPTION = "_BASE_DATABASE_FROM_OPTION"  # set for this process and its children only
NO_DATABASE = frozenset({"simulator"})  # commands that use no database of ours


class MissingDatabase(Exception):
    """The command needs an existing database and there is none where it looked."""


def add_database_option(parser: argparse.ArgumentParser) -> None:
    """`--database` on every leaf command of `parser`."""
    subcommands = [
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    ]
    if not subcommands:
        if parser.prog.split()[-1] in NO_DATABASE:
            return
        parser.add_argument(
            "--database", default=None, metavar="PATH_OR_URL",
            help=f"a SQLite file or a database URL (default: {DATABASE_VARIABLE}, else ./base.db)",
        )
        return
    for action in subcommands:
        for child in set(action.choices.values()):
            add_database_option(child)


def database_url(value: str) -> str:
    """A URL as given, or a SQLite file's path as its URL."""
    if "://" in value:
        return value
    return f"sqlite+aiosqlite:///{Path(value).expanduser().resolve()}"


@contextlib.contextmanager
def database_option(args: argparse.Namespace) -> Iterator[None]:
    """`--database` as BASE_DATABASE_URL while the command (and what it starts) runs."""
    value = getattr(args, "database", None)
    if not value:
        yield
        return
    saved = {name: os.environ.get(name) for name in (DATABASE_VARIABLE, _FROM_OPTION)}
    os.environ[DATABASE_VARIABLE] = database_url(value)
    os.environ[_FROM_OPTION] = "1"
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def require_existing(settings: Settings) -> None:
    """Raise MissingDatabase when the settings name a SQLite file that does not exist."""
    path = sqlite_path(settings.database_url)
    if path is None or path.exists():
        return
    if os.environ.get(_FROM_OPTION):
        where = "--database"
    elif os.environ.get(DATABASE_VARIABLE):
        where = DATABASE_VARIABLE
    else:
        where = f"{DATABASE_VARIABLE} is unset, so the default"
    message = f"no database at {path.resolve()} ({where}); nothing was created"
    demo = Path.cwd() / DEMO_DATABASE
    if demo.exists():
        message += f". The demo's database is {demo}: pass --database {DEMO_DATABASE}"
    else:
        message += ". Pass --database PATH, or run `base migrate` to create it"
    raise MissingDatabase(message)


__all__ = [
    "MissingDatabase",
    "add_database_option",
    "database_option",
    "database_url",
    "require_existing",
]
