"""Buying credits over a real `base serve`, with Telegram and Stripe played by the simulator.

Both providers end to end; duplicate deliveries; forged secrets and signatures; a paid
amount that does not match; a refund after the credits were spent; pre-checkout refusals;
updates and events of types not handled; no secret in any answer or log line.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from live_server import BASE, call, child_env, free_port, serving

from adapters.auth import SessionTokens
from payment_simulator import PaymentSimulator, stripe_signature

pytestmark = pytest.mark.slow

SESSION_SECRET = "s" * 48
BOT_TOKEN = "777000:simulated-bot-token-for-tests"
TELEGRAM_SECRET = "telegram-webhook-secret-0123456789"
STRIPE_KEY = "sk_test_payments_secret_key_0123456789"
STRIPE_WHSEC = "whsec_payments_endpoint_secret_0123456789"
ADMIN = "0b7c9d8e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"
SECRETS = (BOT_TOKEN, TELEGRAM_SECRET, STRIPE_KEY, STRIPE_WHSEC, SESSION_SECRET)


@attrs.frozen
class Shop:
    url: str
    sim: PaymentSimulator
    log: Path
    env: dict[str, str]
    workdir: Path

    def token(self, user_id: str) -> str:
        return SessionTokens(SESSION_SECRET).issue(user_id)

    def user(self) -> tuple[str, str]:
        user_id = str(uuid.uuid4())
        return user_id, self.token(user_id)

    def balance(self, token: str) -> int:
        status, me = call("GET", f"{self.url}/api/me", token=token)
        assert status == 200
        return int(me["user"]["credits"])

    def buy(self, token: str, provider: str, pack: str = "starter") -> dict:
        status, started = call("POST", f"{self.url}/api/credits/purchase", {"pack_id": pack, "provider": provider}, token)
        assert status == 201, started
        return started

    def purchase(self, token: str, purchase_id: str) -> dict:
        status, found = call("GET", f"{self.url}/api/credits/purchases/{purchase_id}", token=token)
        assert status == 200, found
        return found

    def sim_post(self, path: str, body: dict) -> dict:
        status, answer = call("POST", f"{self.sim.base_url}{path}", body, timeout=30)
        assert status == 200, answer
        return answer

    def base(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BASE), *args], cwd=self.workdir, env=child_env(**self.env),
                              capture_output=True, text=True, timeout=60)


def shop_env(workdir: Path, port: int, sim_url: str, database_url: str | None = None) -> dict[str, str]:
    return {
        "BASE_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / 'shop.db'}",
        "BASE_SESSION_SECRET": SESSION_SECRET,
        "BASE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BASE_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "BASE_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "BASE_TELEGRAM_API_URL": sim_url,
        "BASE_STRIPE_SECRET_KEY": STRIPE_KEY,
        "BASE_STRIPE_WEBHOOK_SECRET": STRIPE_WHSEC,
        "BASE_STRIPE_API_URL": sim_url,
        "BASE_ADMIN_USER_IDS": ADMIN,
        "BASE_INITIAL_CREDITS": "10",
    }


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Iterator[Shop]:
    workdir = tmp_path_factory.mktemp("shop")
    port = free_port()
    sim = PaymentSimulator(BOT_TOKEN, STRIPE_KEY, STRIPE_WHSEC, f"http://127.0.0.1:{port}/api/webhook/stripe")
    with sim.running_in_thread():
        env = shop_env(workdir, port, sim.base_url)
        with serving(workdir, env, port=port) as (url, log):
            shop = Shop(url, sim, log, env, workdir)
            done = shop.base("telegram", "set-webhook")
            assert done.returncode == 0, done.stderr
            yield shop
            audit = shop.base("credits", "audit")
            assert audit.returncode == 0, audit.stdout + audit.stderr
        text = log.read_text()
        for secret in SECRETS:
            assert secret not in text, "a secret reached the log"


def test_telegram_stars_end_to_end(shop) -> None:
    assert shop.sim.telegram.state.webhook_url == f"{shop.url}/api/webhook/telegram"
    assert shop.sim.telegram.state.allowed_updates == ["pre_checkout_query", "message"]
    _, token = shop.user()
    started = shop.buy(token, "telegram")
    assert set(started) == {"purchase_id", "provider", "status", "invoice_link"}
    assert started["status"] == "pending"
    invoice = shop.sim.telegram.state.invoices[started["invoice_link"].rsplit("/", 1)[-1]]
    assert (invoice.currency, invoice.amount, invoice.payload) == ("XTR", 50, started["purchase_id"])
    paid = shop.sim_post("/_sim/telegram/pay", {"invoice_link": started["invoice_link"], "user_id": 4242})
    assert paid["paid"] is True and paid["delivered"] == 200
    assert shop.purchase(token, started["purchase_id"])["status"] == "paid"
    assert shop.balance(token) == 110
    status, history = call("GET", f"{shop.url}/api/credits/history?page=1&limit=10", token=token)
    assert status == 200 and history["total"] == 2 and history["totalPages"] == 1
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in history["entries"]] == [
        ("purchase", 100, 110), ("initial_grant", 10, 10),
    ]
    assert history["entries"][0]["purchase_id"] == started["purchase_id"]

    # The same update five times: credited once.
    for _ in range(5):
        assert shop.sim_post("/_sim/telegram/update", paid["update"])["status"] == 200
    assert shop.balance(token) == 110

    # An operator refunds it: Telegram refunds the Stars and tells us again; deducted once.
    _, admin = ADMIN, shop.token(ADMIN)
    status, refunded = call("POST", f"{shop.url}/api/admin/purchases/{started['purchase_id']}/refund", token=admin)
    assert status == 200 and refunded["status"] == "refunded", refunded
    time.sleep(0.5)  # the simulator's refunded_payment update arrives meanwhile
    assert shop.balance(token) == 10
    assert "refundStarPayment" in shop.sim.telegram.state.calls


def test_stripe_checkout_end_to_end(shop) -> None:
    _, token = shop.user()
    started = shop.buy(token, "stripe", "standard")
    assert set(started) == {"purchase_id", "provider", "status", "checkout_url"}
    session_id = started["checkout_url"].rsplit("/", 1)[-1]
    session = shop.sim.stripe.state.sessions[session_id]
    assert session["client_reference_id"] == started["purchase_id"]
    assert session["metadata"]["purchase_id"] == started["purchase_id"]
    assert (session["amount_total"], session["currency"]) == (899, "usd")
    assert session["success_url"].startswith(shop.url)
    event = shop.sim_post(f"/_sim/stripe/pay/{session_id}", {})
    assert shop.purchase(token, started["purchase_id"])["status"] == "paid"
    assert shop.balance(token) == 510
    for _ in range(5):
        assert shop.sim_post(f"/_sim/stripe/resend/{event['id']}", {})["status"] == 200
    assert shop.balance(token) == 510

    # Spend most of it, then refund through the command line: balance 0, shortfall recorded.
    status, _ = call("POST", f"{shop.url}/api/admin/credits", {"user_id": _user_of(shop, token), "amount": -450,
                                                                 "reason": "spent"}, shop.token(ADMIN))
    assert status == 200
    done = shop.base("payments", "refund", started["purchase_id"])
    assert done.returncode == 0, done.stderr
    assert shop.balance(token) == 0
    found = shop.purchase(token, started["purchase_id"])
    assert (found["status"], found["refunded_credits"], found["shortfall"]) == ("refunded", 60, 440)
    listed = shop.base("payments", "list", "--status", "refunded")
    assert started["purchase_id"] in listed.stdout and "shortfall 440" in listed.stdout


def _user_of(shop: Shop, token: str) -> str:
    return str(call("GET", f"{shop.url}/api/me", token=token)[1]["user"]["id"])


def test_a_delayed_stripe_payment_and_an_expired_session(shop) -> None:
    _, token = shop.user()
    delayed = shop.buy(token, "stripe")
    shop.sim_post(f"/_sim/stripe/pay/{delayed['checkout_url'].rsplit('/', 1)[-1]}", {"delayed": True})
    assert shop.purchase(token, delayed["purchase_id"])["status"] == "paid"
    expired = shop.buy(token, "stripe")
    shop.sim_post(f"/_sim/stripe/expire/{expired['checkout_url'].rsplit('/', 1)[-1]}", {})
    assert shop.purchase(token, expired["purchase_id"])["status"] == "expired"
    assert shop.balance(token) == 110


def test_a_forged_telegram_secret_changes_nothing(shop) -> None:
    _, token = shop.user()
    started = shop.buy(token, "telegram")
    update = {"update_id": 1, "message": {"message_id": 1, "from": {"id": 1}, "successful_payment": {
        "currency": "XTR", "total_amount": 50, "invoice_payload": started["purchase_id"],
        "telegram_payment_charge_id": "forged-charge"}}}
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret"}):
        status, _ = _raw(f"{shop.url}/api/webhook/telegram", json.dumps(update).encode(), headers)
        assert status == 401
    assert shop.purchase(token, started["purchase_id"])["status"] == "pending"
    assert shop.balance(token) == 10


def test_a_forged_or_stale_stripe_signature_changes_nothing(shop) -> None:
    _, token = shop.user()
    started = shop.buy(token, "stripe")
    session = dict(shop.sim.stripe.state.sessions[started["checkout_url"].rsplit("/", 1)[-1]])
    session.update(payment_status="paid", status="complete", payment_intent="pi_forged")
    event = {"id": "evt_forged", "object": "event", "type": "checkout.session.completed",
             "data": {"object": session}}
    body = json.dumps(event).encode()
    for signature in (None, stripe_signature("whsec_wrong", body),
                      stripe_signature(STRIPE_WHSEC, body, int(time.time()) - 400)):
        headers = {"Stripe-Signature": signature} if signature else {}
        status, answer = _raw(f"{shop.url}/api/webhook/stripe", body, headers)
        assert status == 401, answer
    assert shop.purchase(token, started["purchase_id"])["status"] == "pending"
    # The same body, properly signed, would have paid it: the test above could fail.
    status, _ = _raw(f"{shop.url}/api/webhook/stripe", body, {"Stripe-Signature": stripe_signature(STRIPE_WHSEC, body)})
    assert status == 200 and shop.purchase(token, started["purchase_id"])["status"] == "paid"


def test_a_paid_amount_that_does_not_match_credits_nothing(shop) -> None:
    _, token = shop.user()
    stripe = shop.buy(token, "stripe")
    shop.sim_post(f"/_sim/stripe/pay/{stripe['checkout_url'].rsplit('/', 1)[-1]}", {"amount_total": 1})
    found = shop.purchase(token, stripe["purchase_id"])
    assert found["status"] == "failed" and found["needs_review"] is True
    telegram = shop.buy(token, "telegram")
    invoice = {"invoice_link": telegram["invoice_link"], "user_id": 7, "amount": 1}
    refused = shop.sim_post("/_sim/telegram/pay", invoice)
    assert refused["paid"] is False and "price" in refused["error_message"]
    assert shop.balance(token) == 10
    status, listed = call("GET", f"{shop.url}/api/admin/purchases?status=failed", token=shop.token(ADMIN))
    assert status == 200 and stripe["purchase_id"] in [p["id"] for p in listed["purchases"]]


def test_pre_checkout_for_an_unknown_or_expired_purchase_is_refused_with_a_message(shop) -> None:
    answers = [
        shop.sim_post("/_sim/telegram/pre-checkout", {"payload": payload, "amount": 50, "user_id": 5})
        for payload in ("no-such-purchase", _expired_purchase(shop))
    ]
    assert [a["ok"] for a in answers] == [False, False]
    assert "unknown" in answers[0]["error_message"] and "expired" in answers[1]["error_message"]


def _expired_purchase(shop: Shop) -> str:
    _, token = shop.user()
    started = shop.buy(token, "stripe")
    shop.sim_post(f"/_sim/stripe/expire/{started['checkout_url'].rsplit('/', 1)[-1]}", {})
    return str(started["purchase_id"])


def test_updates_and_events_not_handled_are_acknowledged(shop) -> None:
    _, token = shop.user()
    before = shop.balance(token)
    assert shop.sim_post("/_sim/telegram/update", {"message": {"message_id": 9, "text": "hello"}})["status"] == 200
    assert shop.sim_post("/_sim/telegram/update", {"edited_message": {"message_id": 9}})["status"] == 200
    event = shop.sim_post("/_sim/stripe/event", {"type": "customer.created", "object": {"id": "cus_1"}})
    assert shop.sim.stripe.state.deliveries[-1].status == 200 and event["type"] == "customer.created"
    assert shop.balance(token) == before


def test_packs_are_public_and_no_secret_is_in_any_answer(shop) -> None:
    status, packs = call("GET", f"{shop.url}/api/credits/packs")
    assert status == 200
    assert packs["packs"][0] == {"id": "starter", "title": "100 credits", "credits": 100, "stars": 50,
                                 "amount": 199, "currency": "usd"}
    _, token = shop.user()
    answers = [json.dumps(packs), json.dumps(shop.buy(token, "telegram")), json.dumps(shop.buy(token, "stripe"))]
    status, schema = call("GET", f"{shop.url}/schema/openapi.json")
    answers.append(json.dumps(schema))
    for secret in SECRETS:
        assert not any(secret in answer for answer in answers)


def test_another_users_purchase_is_404(shop) -> None:
    _, alice = shop.user()
    _, bob = shop.user()
    started = shop.buy(alice, "telegram")
    status, _ = call("GET", f"{shop.url}/api/credits/purchases/{started['purchase_id']}", token=bob)
    assert status == 404


def _raw(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, object]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
