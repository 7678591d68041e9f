"""Running the simulator: in the caller's event loop, in a thread, or in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import uvicorn

from replicate_simulator.app import create_app
from replicate_simulator.config import Settings, SimulatorConfig
from replicate_simulator.engine import Engine
from replicate_simulator.faults import Faults
from replicate_simulator.state import RequestRecord, WebhookRecord

DEFAULT_PORT = 8787


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever embeds it, and that stops
    at once when asked from its own loop (tests start and stop many of them)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stopping: asyncio.Event | None = None

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()

    async def main_loop(self) -> None:
        self._stopping = asyncio.Event()
        counter = 0
        while not self.should_exit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.1)
            counter = (counter + 1) % 864000
            self.should_exit = self.should_exit or await self.on_tick(counter)

    def stop_soon(self) -> None:
        """Ask to stop; call it from the server's own loop."""
        self.should_exit = True
        if self._stopping is not None:
            self._stopping.set()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening at once lets callers connect as soon as the URL is known; connections
    # wait in the backlog until uvicorn starts accepting.
    sock.listen(2048)
    return sock


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


class Simulator:
    """A local stand-in for Replicate's HTTP API; see the package docstring."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.engine = Engine(self.config)
        self.app = create_app(self.engine)

    # -- the test API ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self.engine.base_url:
            raise RuntimeError("the simulator is not running")
        return self.engine.base_url

    @property
    def faults(self) -> Faults:
        return self.engine.faults

    @property
    def settings(self) -> Settings:
        """Live timings; assign `processing_delay`, `starting_delay` or `retention`."""
        return self.engine.settings

    def add_token(self, token: str, account: str | None = None) -> str:
        """Accept `token`, belonging to `account` (its own account by default); return the account."""
        return self.engine.accounts.add_token(token, account)

    def remove_token(self, token: str) -> None:
        self.engine.accounts.remove_token(token)

    def secret_for_token(self, token: str) -> str:
        return self.engine.accounts.secret_for_token(token)

    def secret_for_account(self, account: str) -> str:
        return self.engine.accounts.secret_for_account(account)

    def requests(self, token: str | None = None) -> list[RequestRecord]:
        """The `/v1` requests received, oldest first, optionally only those with `token`."""
        return self.engine.history.requests(token)

    def webhook_attempts(self, prediction_id: str | None = None) -> list[WebhookRecord]:
        return self.engine.history.webhooks(prediction_id)

    def prediction(self, prediction_id: str) -> dict[str, Any] | None:
        """A prediction as `GET /v1/predictions/{id}` would show it, or None."""
        found = self.engine.get(prediction_id)
        return None if found is None else found.to_json(self.base_url)

    def upload(self, data: bytes, extension: str = "png") -> str:
        """Serve `data` at a `/files/uploads/...` URL (never expires) and return the URL."""
        return self.engine.upload(data, extension)

    def remove_data(self, prediction_id: str) -> None:
        """Delete a prediction's input, output and files now, as retention would."""
        self.engine.call_in_loop(lambda: self.engine.remove_data(prediction_id))

    def reset(self) -> None:
        """Forget predictions, files, logs and faults; restore the configured tokens and timings."""
        self.engine.call_in_loop(self.engine.reset)

    # -- running -----------------------------------------------------------------------------

    def _server(self) -> _QuietServer:
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        return _QuietServer(config)

    @contextlib.asynccontextmanager
    async def running(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Simulator]:
        """Serve in the current event loop until the block exits."""
        sock = _bind(host, port)
        self.engine.bind(_url(host, sock.getsockname()[1]))
        server = self._server()
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the simulator stopped while starting")
                await asyncio.sleep(0.005)
            yield self
        finally:
            server.stop_soon()
            await task
            sock.close()

    @contextlib.contextmanager
    def running_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[Simulator]:
        """Serve from a background thread until the block exits (for synchronous callers)."""
        sock = _bind(host, port)
        self.engine.bind(_url(host, sock.getsockname()[1]))
        server = self._server()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as error:  # surfaced to the caller below
                failure.append(error)

        thread = threading.Thread(target=run, name="replicate-simulator", daemon=True)
        thread.start()
        try:
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the simulator stopped while starting") from (
                        failure[0] if failure else None
                    )
                time.sleep(0.005)
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


def serve(host: str, port: int, config: SimulatorConfig | None = None) -> None:
    """Serve in the foreground until interrupted (Ctrl-C or SIGTERM)."""
    simulator = Simulator(config)
    sock = _bind(host, port)
    simulator.engine.bind(_url(host, sock.getsockname()[1]))
    _announce(simulator)
    server = uvicorn.Server(
        uvicorn.Config(simulator.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _announce(simulator: Simulator) -> None:
    print(f"Replicate simulator serving on {simulator.base_url}", flush=True)
    if simulator.config.accept_any_token:
        print("  any bearer token is accepted (each is its own account)", flush=True)
    for token, account in sorted(simulator.engine.accounts.tokens().items()):
        secret = simulator.secret_for_account(account)
        print(f"  token {token}  account {account}  webhook secret {secret}", flush=True)


def _pair(text: str) -> tuple[str, str | None]:
    name, separator, value = text.partition("=")
    return name, (value if separator else None)


def parse_args(argv: Sequence[str] | None) -> tuple[str, int, SimulatorConfig]:
    parser = argparse.ArgumentParser(
        prog="python -m replicate_simulator",
        description="Serve a local simulation of Replicate's HTTP API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--token", action="append", default=[], metavar="TOKEN[=ACCOUNT]",
        help="accept this token (repeatable); with no --token every token is accepted",
    )
    parser.add_argument(
        "--secret", action="append", default=[], metavar="ACCOUNT=whsec_...",
        help="pin an account's webhook signing secret (repeatable)",
    )
    parser.add_argument("--starting-delay", type=float, default=0.5)
    parser.add_argument("--processing-delay", type=float, default=1.0)
    parser.add_argument("--retention", type=float, default=None, help="seconds; default: forever")
    parser.add_argument("--public-url", default=None, help="base URL written into output URLs")
    args = parser.parse_args(argv)
    tokens = [_pair(t) for t in args.token]
    secrets = dict(_pair(s) for s in args.secret)
    if any(value is None for value in secrets.values()):
        parser.error("--secret takes ACCOUNT=whsec_...")
    config = SimulatorConfig(
        tokens=[t for t, account in tokens if account is None],
        accounts={t: account for t, account in tokens if account is not None},
        account_secrets=secrets,  # type: ignore[arg-type]
        accept_any_token=not tokens,
        starting_delay=args.starting_delay,
        processing_delay=args.processing_delay,
        retention=args.retention,
        public_url=args.public_url,
    )
    return args.host, args.port, config


def main(argv: Sequence[str] | None = None) -> int:
    host, port, config = parse_args(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve(host, port, config)
    return 0
