"""The payment simulator on its own: Telegram's checks on Stars invoices, Stripe's own client
against it, events signed so that the library verifies them, deliveries retried."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from live_server import call
from payment_simulator import PaymentSimulator

TOKEN = "42:token"


class Endpoint:
    """A webhook receiver that fails its first `failures` requests with a 500."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.bodies: list[tuple[dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append((dict(self.headers), json.loads(body)))
                status = 500 if outer.failures > 0 else 200
                outer.failures -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def endpoint():
    found = Endpoint(failures=2)
    yield found
    found.close()


def bot(sim: PaymentSimulator, method: str, body: dict) -> tuple[int, dict]:
    return call("POST", f"{sim.base_url}/bot{TOKEN}/{method}", body)


def test_stars_invoices_are_checked_like_telegram_checks_them() -> None:
    good = {"title": "100 credits", "description": "d", "payload": "p1", "currency": "XTR",
            "prices": [{"label": "x", "amount": 50}]}
    with PaymentSimulator(bot_token=TOKEN).running_in_thread() as sim:
        status, answer = bot(sim, "createInvoiceLink", good)
        assert status == 200 and answer["ok"] is True and answer["result"].startswith(sim.base_url)
        for bad in ({"currency": "USD"}, {"prices": [{"label": "x", "amount": 1}] * 2},
                    {"provider_token": "tok"}, {"title": "x" * 33}, {"payload": ""}):
            status, answer = bot(sim, "createInvoiceLink", {**good, **bad})
            assert status == 400 and answer["ok"] is False, bad
        status, answer = call("POST", f"{sim.base_url}/botwrong/getMe", {})
        assert status == 401 and answer["description"] == "Unauthorized"
        status, answer = bot(sim, "answerPreCheckoutQuery", {"pre_checkout_query_id": "q", "ok": False})
        assert status == 400 and "error_message" in answer["description"]


def test_pay_waits_for_the_pre_checkout_answer_and_retries_deliveries(endpoint) -> None:
    with PaymentSimulator(bot_token=TOKEN).running_in_thread() as sim:
        bot(sim, "setWebhook", {"url": endpoint.url, "secret_token": "s3cret", "allowed_updates": ["message"]})
        _, link = bot(sim, "createInvoiceLink", {"title": "t", "description": "d", "payload": "p", "currency": "XTR",
                                                  "prices": [{"label": "x", "amount": 5}]})
        status, paid = call("POST", f"{sim.base_url}/_sim/telegram/pay", {"invoice_link": link["result"]}, timeout=30)
        # Nobody answered the pre-checkout: no payment was sent (the receiver got it 3 times: two 500s).
        assert status == 200 and paid["paid"] is False and "10 seconds" in paid["error_message"]
        headers, update = endpoint.bodies[-1]
        assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret" and "pre_checkout_query" in update
        assert len(endpoint.bodies) == 3


def test_stripes_own_client_makes_sessions_and_verifies_the_events(endpoint) -> None:
    secret = "whsec_sim_test"
    with PaymentSimulator(stripe_key="sk_test_x", stripe_webhook_secret=secret,
                          stripe_webhook_url=endpoint.url).running_in_thread() as sim:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": sim.base_url},
                                     http_client=stripe.HTTPXClient())

        async def create():  # type: ignore[no-untyped-def]
            return await client.v1.checkout.sessions.create_async({
                "mode": "payment", "client_reference_id": "pur_1", "metadata": {"purchase_id": "pur_1"},
                "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 199,
                                                              "product_data": {"name": "100 credits"}}}],
                "success_url": "http://x/ok", "cancel_url": "http://x/no",
            })

        session = asyncio.run(create())
        assert session.id.startswith("cs_test_") and session.amount_total == 199
        with pytest.raises(stripe.AuthenticationError):
            stripe.StripeClient("sk_wrong", base_addresses={"api": sim.base_url}).v1.checkout.sessions.retrieve(session.id)
        call("POST", f"{sim.base_url}/_sim/stripe/pay/{session.id}", {}, timeout=30)
        assert len(endpoint.bodies) == 3  # two 500s, then accepted
        headers, event = endpoint.bodies[-1]
        verified = client.construct_event(json.dumps(event), headers["Stripe-Signature"], secret)
        assert verified.type == "checkout.session.completed"
        assert event["data"]["object"]["payment_status"] == "paid"
        with pytest.raises(stripe.SignatureVerificationError):
            client.construct_event(json.dumps(event), headers["Stripe-Signature"], "whsec_other")
