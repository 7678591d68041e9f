"""Long-running commands: `base serve`, `base demo`, `base simulator`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import uuid
from pathlib import Path
from typing import Any

import uvicorn

from entrypoints.bootstrap import load_packs, load_registry, open_services
from entrypoints.settings import Settings, SettingsError

DEMO_TOKEN = "r8_demo_token_for_the_local_simulator"
DEMO_USER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://base.local/demo-user"))
SEED_BODY = (
    '{"action": "create", "model_id": "flux-schnell", "prompt": "A beautiful sunset over mountains", '
    '"settings": {"aspect_ratio": "16:9", "num_outputs": 1}}'
)


def configure_logging(level: int = logging.INFO, settings: Settings | None = None) -> None:
    """Our own lines (requests, generation changes) on stderr, as text or JSON
    (BASE_LOG_FORMAT), the settings' secrets masked; idempotent."""
    from entrypoints.logs import configure

    if settings is None:
        configure(level=level)
    else:
        configure(settings.log_format, settings.secret_values(), level=level)
    # httpx logs every outgoing request at INFO; our own lines already say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic narrates its plugins and dialect on every start; the schema is ours to mind.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve the HTTP API with the BASE_* settings")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(handler=cmd_serve)

    demo = commands.add_parser(
        "demo", help="run everything offline: SQLite, the Replicate simulator, a demo user"
    )
    demo.add_argument(
        "--dir", default="./base-demo",
        help="where the demo keeps everything it writes (default ./base-demo)",
    )
    demo.add_argument("--db", default=None, help="SQLite file (default <dir>/base-demo.db)")
    demo.add_argument("--verbose", action="store_true", help="log requests here, not to <dir>/base-demo.log")
    demo.add_argument("--port", type=int, default=8000, help="first port to try (default 8000)")
    demo.set_defaults(handler=cmd_demo)

    simulator = commands.add_parser("simulator", help="serve the local Replicate simulator")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8787)
    simulator.add_argument(
        "--token", action="append", default=[], help="accept only these tokens (repeatable)"
    )
    simulator.add_argument("--processing-delay", type=float, default=1.0, help="seconds")
    simulator.set_defaults(handler=cmd_simulator)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()  # a bad variable stops us here, before any worker starts
    load_registry(settings)
    load_packs(settings)
    # Stored outputs are linked when answering, from BASE_OUTPUT_URL, BASE_PUBLIC_URL or
    # the address each request came to: nothing here depends on the port we listen on.
    if args.workers > 1 and settings.metrics_bind is not None:
        raise SettingsError(
            "BASE_METRICS_BIND", "one listener per process: with --workers, use BASE_METRICS_TOKEN"
        )
    from entrypoints.startup import preflight

    asyncio.run(preflight(settings))  # the database and its schema, before any worker starts
    configure_logging(settings=settings)
    # uvicorn's own lines go through our handler (and format); in-flight requests get
    # BASE_SHUTDOWN_SECONDS to finish on SIGTERM/SIGINT, then the lifespan stops the rest.
    common: dict[str, Any] = {
        "host": args.host, "port": args.port, "access_log": False, "log_config": None,
        "timeout_graceful_shutdown": max(1, round(settings.shutdown_seconds)),
    }
    # uvicorn stops gracefully on SIGTERM, then raises the signal again for the handler in
    # place before it: ours makes that a clean exit (status 0) instead of death by signal.
    signal.signal(signal.SIGTERM, _stopped)
    if args.workers > 1:
        uvicorn.run("entrypoints.http.asgi:app", factory=True, workers=args.workers, **common)
        return 0
    from entrypoints.http.asgi import create_app_for, settle_heap

    served = create_app_for(settings)
    settle_heap()
    uvicorn.run(served, **common)
    return 0


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_simulator(args: argparse.Namespace) -> int:
    from replicate_simulator.server import parse_args, serve

    argv = ["--host", args.host, "--port", str(args.port), "--processing-delay", str(args.processing_delay)]
    for token in args.token:
        argv += ["--token", token]
    host, port, config = parse_args(argv)
    try:
        serve(host, port, config)
    except KeyboardInterrupt:
        pass
    return 0


def bind_free_port(host: str, first: int, attempts: int = 50) -> socket.socket:
    """A listening socket on `first` or the next free port after it."""
    for port in range(first, first + attempts):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            continue
        sock.set_inheritable(True)
        # Listening now means a curl pasted before uvicorn is up waits instead of failing.
        sock.listen(128)
        return sock
    raise SystemExit(f"base: no free port from {first} to {first + attempts - 1}")


async def prepare_demo(settings: Settings) -> str:
    """Migrate, add the simulator's token, create the demo user; return its bearer token."""
    async with open_services(settings, background=False) as services:
        await services.studio.ensure_user(DEMO_USER_ID)
        return services.sessions.issue(DEMO_USER_ID)


def demo_instructions(base_url: str, token: str, log: Path | None = None, photo: Path | None = None) -> str:
    from entrypoints.cli.demo_kit import demo_init_data, demo_supabase_token, instructions

    return instructions(
        base_url, token, DEMO_USER_ID, demo_init_data(), log, SEED_BODY, demo_supabase_token(), photo
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from entrypoints.cli import demo_kit
    from entrypoints.http.asgi import create_app_for
    from entrypoints.http.studio import demo_session_route
    from replicate_simulator import Simulator, SimulatorConfig

    configure_logging()
    folder = Path(args.dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    chosen = args.db or getattr(args, "database", None)
    db = Path(chosen).resolve() if chosen else folder / "base-demo.db"
    log = None if args.verbose else demo_kit.log_to_file(folder)
    sock = bind_free_port("127.0.0.1", args.port)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    from entrypoints.cli.demo_payments import payment_demo

    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.3, processing_delay=1.5))
    try:
        with simulator.running_in_thread() as running, payment_demo(base_url, demo_kit.DEMO_BOT_TOKEN) as payments:
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{db}",
                replicate_tokens=(DEMO_TOKEN,),
                replicate_base_url=running.base_url,
                # The simulator signs webhooks and calls us back here, like Replicate would.
                public_url=base_url,
                allow_private_image_urls=True,
                reconcile_after_seconds=5.0,
                output_dir=folder / "outputs",
                supabase_jwt_secret=demo_kit.DEMO_SUPABASE_SECRET,
                admin_user_ids=frozenset({DEMO_USER_ID}),
                **payments.settings,
            )
            token = asyncio.run(prepare_demo(settings))
            app = create_app_for(settings, [demo_session_route(DEMO_USER_ID), demo_kit.sample_route()])
            photo = demo_kit.write_demo_photo(folder / "photo.png")
            print(demo_instructions(base_url, token, log, photo), flush=True)
            print("\n".join([*payments.instructions(), ""]), flush=True)
            config = uvicorn.Config(
                app, access_log=False, log_level="warning", lifespan="on",
                timeout_graceful_shutdown=2,
            )
            uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("demo stopped", flush=True)
    return 0
