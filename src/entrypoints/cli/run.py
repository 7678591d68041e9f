"""Long-running commands: `base serve`, `base demo`, `base simulator`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import uvicorn

from entrypoints.bootstrap import load_registry, open_services
from entrypoints.settings import Settings

DEMO_TOKEN = "r8_demo_token_for_the_local_simulator"
DEMO_USER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://base.local/demo-user"))
SEED_BODY = (
    '{"action": "create", "model_id": "flux-schnell", "prompt": "A beautiful sunset over mountains", '
    '"settings": {"aspect_ratio": "16:9", "num_outputs": 1}}'
)


def configure_logging(level: int = logging.INFO) -> None:
    """Our own lines (requests, generation changes) on stderr; idempotent."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
    demo.add_argument("--db", default="./base-demo.db", help="SQLite file (default ./base-demo.db)")
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
    if settings.output_url is None and settings.public_url is None:
        # Stored outputs are linked at the address we serve on; worker processes read
        # their settings from the environment, so it goes there too.
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
        os.environ["BASE_OUTPUT_URL"] = f"http://{shown}:{args.port}"
        settings = Settings.from_env()
    configure_logging()
    if args.workers > 1:
        uvicorn.run(
            "entrypoints.http.asgi:app", factory=True, host=args.host, port=args.port,
            workers=args.workers, access_log=False,
        )
        return 0
    from entrypoints.http.asgi import create_app_for

    uvicorn.run(create_app_for(settings), host=args.host, port=args.port, access_log=False)
    return 0


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


def demo_instructions(base_url: str, token: str) -> str:
    auth = '-H "Authorization: Bearer $TOKEN"'
    return "\n".join([
        f"Studio: {base_url}/   (open it in a browser; signed in as the demo user)",
        f".base demo is running on {base_url} (Replicate simulator, SQLite). Ctrl-C stops it.",
        f"Demo user {DEMO_USER_ID}; paste these lines into a shell:",
        "",
        f"export BASE={base_url}",
        f"export TOKEN={token}",
        'curl -s "$BASE/api/models/list"',
        (
            f"curl -s -X POST \"$BASE/api/generations/create\" {auth} "
            f"-H \"Content-Type: application/json\" -d '{SEED_BODY}'"
        ),
        f'curl -s "$BASE/api/generations/<id>" {auth}',
        f'curl -s "$BASE/api/generations/list" {auth}',
        f'curl -s -X DELETE "$BASE/api/generations/<id>" {auth}',
        "",
        f"OpenAPI: {base_url}/schema/openapi.json   Swagger UI: {base_url}/schema/swagger",
        "",
    ])


def cmd_demo(args: argparse.Namespace) -> int:
    from entrypoints.http.asgi import create_app_for
    from entrypoints.http.studio import demo_session_route
    from replicate_simulator import Simulator, SimulatorConfig

    configure_logging()
    db = Path(args.db).resolve()
    sock = bind_free_port("127.0.0.1", args.port)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.3, processing_delay=1.5))
    try:
        with simulator.running_in_thread() as running:
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{db}",
                replicate_tokens=(DEMO_TOKEN,),
                replicate_base_url=running.base_url,
                # The simulator signs webhooks and calls us back here, like Replicate would.
                public_url=base_url,
                allow_private_image_urls=True,
                reconcile_after_seconds=5.0,
                output_dir=db.parent / "base-demo-outputs",
            )
            token = asyncio.run(prepare_demo(settings))
            print(demo_instructions(base_url, token), flush=True)
            config = uvicorn.Config(
                create_app_for(settings, [demo_session_route(DEMO_USER_ID)]), access_log=False, log_level="warning", lifespan="on",
                timeout_graceful_shutdown=2,
            )
            uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("demo stopped", flush=True)
    return 0
