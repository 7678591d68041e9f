"""Running the payment simulator: in a background thread (tests, the demo) or in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import uvicorn

from payment_simulator.app import PaymentSimulatorApp
from payment_simulator.stripe import StripeApi
from payment_simulator.telegram import TelegramBot

DEFAULT_PORT = 8788
DEFAULT_BOT_TOKEN = "123456:simulated-bot-token"
DEFAULT_STRIPE_KEY = "sk_test_simulated"
DEFAULT_STRIPE_WEBHOOK_SECRET = "whsec_simulated_endpoint_secret"


class _ThreadServer(uvicorn.Server):
    """Leaves signals to the main thread's owner."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


class PaymentSimulator:
    """Telegram's Bot API (payments) and Stripe (Checkout) on one local port."""

    def __init__(
        self,
        bot_token: str = DEFAULT_BOT_TOKEN,
        stripe_key: str = DEFAULT_STRIPE_KEY,
        stripe_webhook_secret: str = DEFAULT_STRIPE_WEBHOOK_SECRET,
        stripe_webhook_url: str | None = None,
    ) -> None:
        self.telegram = TelegramBot(bot_token)
        self.stripe = StripeApi(stripe_key, stripe_webhook_secret)
        self.stripe.state.webhook_url = stripe_webhook_url
        self.app = PaymentSimulatorApp(self.telegram, self.stripe)
        self.base_url = ""

    def bind(self, base_url: str) -> None:
        self.base_url = base_url
        self.telegram.state.base_url = base_url
        self.stripe.state.base_url = base_url

    @contextlib.contextmanager
    def running_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[PaymentSimulator]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
        self.bind(f"http://{host}:{sock.getsockname()[1]}")
        server = _ThreadServer(uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1,
        ))
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                                  name="payment-simulator", daemon=True)
        thread.start()
        try:
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the payment simulator stopped while starting")
                time.sleep(0.005)
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payment_simulator",
                                     description="Serve simulated Telegram Bot API payments and Stripe Checkout.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--bot-token", default=DEFAULT_BOT_TOKEN)
    parser.add_argument("--stripe-key", default=DEFAULT_STRIPE_KEY)
    parser.add_argument("--stripe-webhook-secret", default=DEFAULT_STRIPE_WEBHOOK_SECRET)
    parser.add_argument("--stripe-webhook-url", default=None, help="where Stripe events are sent")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    simulator = PaymentSimulator(args.bot_token, args.stripe_key, args.stripe_webhook_secret, args.stripe_webhook_url)
    simulator.bind(f"http://{args.host}:{args.port}")
    print(f"payment simulator on {simulator.base_url}: BASE_TELEGRAM_API_URL and BASE_STRIPE_API_URL", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(simulator.app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    return 0
