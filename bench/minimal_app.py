"""The yardstick: hand-written Litestar handlers doing only the work that can't be avoided.

Each handler verifies the bearer token (or the webhook signature) and runs the same SQL
.base runs, as raw statements on the same engine settings (the adapter's own
`create_engine`: pool, pragmas, BEGIN IMMEDIATE on SQLite). No domain objects, no
repositories, no units of work. A transaction that changes a generation announces it as
the live feed must on PostgreSQL (a `pg_notify` in that transaction); on SQLite the feed
is in-process and costs the minimal nothing. `/bare` is a JSON endpoint with no work at all.

    python -m bench.minimal_app --port P    (BENCH_DATABASE_URL, BENCH_SIMULATOR_URL,
                                            BENCH_SESSION_SECRET, BENCH_WEBHOOK_SECRET,
                                            BENCH_TOKEN, BENCH_TELEGRAM_SECRET,
                                            BENCH_STRIPE_SECRET)

The payment webhooks' handlers are in bench/minimal_payments.py, the upload's in
bench/minimal_uploads.py (BENCH_S3_* for its bucket).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from litestar import Litestar, Request, get, post
from litestar.exceptions import HTTPException
from sqlalchemy.engine import make_url

from adapters.sql.engine import DEFAULT_MAX_OVERFLOW, DEFAULT_POOL_SIZE, create_engine
from bench import minimal_payments, minimal_uploads
from bench.minimal_auth import caller

NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")
PRICES = {"flux-schnell": (1, "black-forest-labs/flux-schnell")}
COLUMNS = (
    "id, user_id, action, model_id, model_name, prompt, input_image_url, settings, status, "
    "prediction_id, output_urls, error_message, cost, processing_time_ms, created_at, completed_at"
)


class Env:
    def __init__(self) -> None:
        self.url = make_url(os.environ["BENCH_DATABASE_URL"])
        self.sqlite = self.url.get_backend_name() == "sqlite"
        self.simulator = os.environ["BENCH_SIMULATOR_URL"].rstrip("/")
        self.session_secret = os.environ["BENCH_SESSION_SECRET"]
        secret = os.environ["BENCH_WEBHOOK_SECRET"].removeprefix("whsec_")
        self.webhook_key = base64.b64decode(secret)
        self.token = os.environ["BENCH_TOKEN"]
        self.engine = create_engine(
            self.url, pool_size=DEFAULT_POOL_SIZE, max_overflow=DEFAULT_MAX_OVERFLOW, echo=False
        )
        self.http = httpx.AsyncClient(timeout=30)

    def ts(self, moment: datetime | None) -> Any:
        if moment is None or not self.sqlite:
            return moment
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")

    async def announce(self, c: Any, generation_id: str, user_id: str) -> None:
        """Tell the other processes the generation changed: on PostgreSQL a NOTIFY inside the
        changing transaction (sent by the commit); on SQLite the feed is in-process only."""
        if not self.sqlite:
            payload = json.dumps({"g": generation_id, "u": user_id}, separators=(",", ":"))
            await c.execute(NOTIFY, {"channel": "bench_generations", "payload": payload})

    def lock(self) -> str:
        return "" if self.sqlite else " FOR UPDATE"


ENV: Env


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _out(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["settings"] = _json(out["settings"])
    out["output_urls"] = _json(out["output_urls"])
    out["created_at"] = _iso(out["created_at"])
    out["completed_at"] = _iso(out["completed_at"])
    return out


@get("/bare")
async def bare() -> dict[str, Any]:
    return {"ok": True}


@get("/api/generations/{generation_id:str}")
async def read(request: Request[Any, Any, Any], generation_id: str) -> dict[str, Any]:
    user_id = caller(request)
    async with ENV.engine.connect() as connection:
        row = (await connection.execute(
            sa.text(f"SELECT {COLUMNS} FROM generations WHERE id = :id AND user_id = :user "
                    "AND deleted_at IS NULL"),
            {"id": generation_id, "user": user_id},
        )).first()
        await connection.rollback()
    if row is None:
        raise HTTPException(status_code=404)
    return _out(row)


@get("/api/generations/list")
async def listing(request: Request[Any, Any, Any], page: int = 1, limit: int = 20) -> dict[str, Any]:
    user_id = caller(request)
    where = "user_id = :user AND deleted_at IS NULL"
    async with ENV.engine.connect() as connection:
        total = (await connection.execute(
            sa.text(f"SELECT count(*) FROM generations WHERE {where}"), {"user": user_id}
        )).scalar_one()
        rows = (await connection.execute(
            sa.text(f"SELECT {COLUMNS} FROM generations WHERE {where} "
                    "ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"),
            {"user": user_id, "limit": limit, "offset": (page - 1) * limit},
        )).all()
        await connection.rollback()
    return {"generations": [_out(r) for r in rows], "total": total, "page": page,
            "limit": limit, "totalPages": -(-total // limit)}


@post("/api/generations/create", status_code=201)
async def create(request: Request[Any, Any, Any]) -> dict[str, Any]:
    user_id = caller(request)
    body = await request.json()
    price, model = PRICES[body["model_id"]]
    settings = body.get("settings") or {}
    cost = price * int(settings.get("num_outputs", 1))
    replicate_input = {"prompt": body.get("prompt"), **settings}
    generation_id, now = str(uuid.uuid4()), datetime.now(UTC)
    hold_key = f"hold:{generation_id}"
    async with ENV.engine.connect() as c:
        balance = (await c.execute(sa.text(
            f"SELECT balance FROM credit_accounts WHERE user_id = :u{ENV.lock()}"), {"u": user_id}
        )).scalar_one()
        in_flight = (await c.execute(sa.text(
            "SELECT count(*) FROM generations WHERE user_id = :u "
            "AND status IN ('pending', 'processing')"), {"u": user_id})).scalar_one()
        if balance < cost or in_flight >= 10**9:
            raise HTTPException(status_code=402)
        await c.execute(sa.text(
            "INSERT INTO generations (id, user_id, action, model_id, model_name, prompt, settings, "
            "replicate_input, cost, status, created_at, updated_at) VALUES (:id, :u, 'create', "
            ":m, :m, :p, :s, :ri, :cost, 'pending', :now, :now)"),
            {"id": generation_id, "u": user_id, "m": body["model_id"], "p": body.get("prompt"),
             "s": json.dumps(settings), "ri": json.dumps(replicate_input), "cost": cost,
             "now": ENV.ts(now)})
        await c.execute(sa.text(
            "INSERT INTO credit_holds (key, user_id, amount, state, created_at, expires_at) "
            "VALUES (:k, :u, :a, 'pending', :now, :exp)"),
            {"k": hold_key, "u": user_id, "a": cost, "now": ENV.ts(now),
             "exp": ENV.ts(now + timedelta(hours=24))})
        await c.execute(sa.text(
            "INSERT INTO ledger_entries (key, user_id, kind, amount, hold_key, reason, created_at) "
            "VALUES (:k, :u, 'hold', :a, :k, 'hold', :now)"),
            {"k": hold_key, "u": user_id, "a": -cost, "now": ENV.ts(now)})
        await c.execute(sa.text(
            "UPDATE credit_accounts SET balance = balance - :a WHERE user_id = :u AND balance >= :a"),
            {"a": cost, "u": user_id})
        token_id = (await c.execute(sa.text(
            f"SELECT id FROM replicate_tokens WHERE is_active ORDER BY last_used_at, id "
            f"LIMIT 1{ENV.lock()}"))).scalar_one()
        await c.execute(sa.text(
            "UPDATE replicate_tokens SET request_count = request_count + 1, last_used_at = :now "
            "WHERE id = :t"), {"now": ENV.ts(now), "t": token_id})
        await ENV.announce(c, generation_id, user_id)
        await c.commit()
    answer = await ENV.http.post(
        f"{ENV.simulator}/v1/models/{model}/predictions", json={"input": replicate_input},
        headers={"Authorization": f"Bearer {ENV.token}"},
    )
    prediction = answer.json()
    async with ENV.engine.connect() as c:
        await c.execute(sa.text(
            "UPDATE generations SET prediction_id = :pid, token_id = :t, status = 'processing', "
            "updated_at = :now, version = version + 1 WHERE id = :id"),
            {"pid": prediction["id"], "t": token_id, "now": ENV.ts(datetime.now(UTC)),
             "id": generation_id})
        await ENV.announce(c, generation_id, user_id)
        await c.commit()
    return {"id": generation_id, "prediction_id": prediction["id"], "status": "processing"}


def _signature_ok(request: Request[Any, Any, Any], body: bytes) -> str:
    webhook_id = request.headers.get("webhook-id", "")
    timestamp = request.headers.get("webhook-timestamp", "0")
    if abs(datetime.now(UTC).timestamp() - int(timestamp)) > 300:
        raise HTTPException(status_code=401)
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(ENV.webhook_key, signed, hashlib.sha256).digest()).decode()
    for entry in request.headers.get("webhook-signature", "").split():
        if hmac.compare_digest(entry.partition(",")[2], digest):
            return webhook_id
    raise HTTPException(status_code=401)


@post("/api/webhook/replicate", status_code=200)
async def webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await request.body()
    delivery = _signature_ok(request, body)
    data = json.loads(body)
    now = datetime.now(UTC)
    async with ENV.engine.connect() as c:
        fresh = (await c.execute(sa.text(
            "INSERT INTO webhook_deliveries (delivery_id, received_at) VALUES (:d, :now) "
            "ON CONFLICT DO NOTHING RETURNING delivery_id"), {"d": delivery, "now": ENV.ts(now)})).first()
        if fresh is not None:
            await _settle(c, data, now)
        await c.commit()
    return {"ok": True}


async def _settle(c: Any, data: dict[str, Any], now: datetime) -> None:
    """Fail the generation and void its hold: the refund, in the lock order .base uses."""
    row = (await c.execute(sa.text(
        f"SELECT id, user_id, status FROM generations WHERE prediction_id = :p{ENV.lock()}"),
        {"p": data["id"]})).first()
    if row is None or row.status not in ("pending", "processing") or data["status"] != "failed":
        return
    hold_key = f"hold:{row.id}"
    hold = (await c.execute(sa.text(
        f"SELECT amount, state FROM credit_holds WHERE key = :k{ENV.lock()}"), {"k": hold_key})).first()
    await c.execute(sa.text(
        f"SELECT balance FROM credit_accounts WHERE user_id = :u{ENV.lock()}"), {"u": row.user_id})
    await c.execute(sa.text(
        "INSERT INTO ledger_entries (key, user_id, kind, amount, hold_key, reason, created_at) "
        "VALUES (:k, :u, 'void', :a, :h, 'void', :now)"),
        {"k": f"void:{hold_key}", "u": row.user_id, "a": hold.amount, "h": hold_key,
         "now": ENV.ts(now)})
    await c.execute(sa.text(
        "UPDATE credit_holds SET state = 'voided', resolved_at = :now WHERE key = :k "
        "AND state = 'pending'"), {"now": ENV.ts(now), "k": hold_key})
    await c.execute(sa.text(
        "UPDATE credit_accounts SET balance = balance + :a WHERE user_id = :u"),
        {"a": hold.amount, "u": row.user_id})
    await c.execute(sa.text(
        "UPDATE generations SET status = 'failed', error_message = :e, completed_at = :now, "
        "updated_at = :now, version = version + 1 WHERE id = :id"),
        {"e": data.get("error"), "now": ENV.ts(now), "id": row.id})
    await ENV.announce(c, row.id, row.user_id)


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    global ENV
    ENV = Env()
    app.state.env = ENV  # for the handlers of the other modules
    try:
        yield
    finally:
        await ENV.http.aclose()
        await ENV.engine.dispose()


def create_app() -> Litestar:
    return Litestar(
        route_handlers=[bare, listing, read, create, webhook, *minimal_payments.ROUTES,
                        *minimal_uploads.ROUTES],
        lifespan=[lifespan],
        logging_config=None, openapi_config=None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.minimal_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The same call `base serve` makes with one worker.
    uvicorn.run(create_app(), host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
