"""Arbitrary input into the parsers that face the internet: the webhook verifier, the
model registry's request validation, the list query and the settings reader. Each answers
with a result or its documented domain error, nothing else.

(The JWT and initData verifiers are fuzzed in tests/adapters/auth/test_auth_fuzz.py.)
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adapters.memory import MemoryStore
from adapters.replicate import ReplicateWebhooks, WebhookSecrets, sign
from base_core import GenerationQuery, GenerationRequest, UrlPolicy, builtin_registry
from base_core.errors import InvalidRequest, Unauthenticated
from base_core.generation import Trigger
from base_testing import FakeInference

# Replicate's statuses as the core reads them, written out independently of the adapter.
PROVIDER_EVENTS = {
    "starting": Trigger.PROGRESS, "processing": Trigger.PROGRESS, "succeeded": Trigger.SUCCEED,
    "failed": Trigger.FAIL, "canceled": Trigger.CANCEL, "aborted": Trigger.CANCEL,
}
from base_core.ports import TokenCredential, VerifiedWebhook
from base_core.tokens import ReplicateToken
from entrypoints.settings import Settings, SettingsError

NOW = 1_750_000_000
SECRET = "whsec_" + base64.b64encode(b"fuzz-webhook-key-0123456789abcdef").decode()
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


class FixedClock:
    def now(self) -> datetime:
        return datetime.fromtimestamp(NOW, UTC)


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
header_text = st.one_of(st.text(max_size=60), st.sampled_from(["", " ", "v1,", "v1,AAAA", str(NOW)]))


def fixed_verifier() -> ReplicateWebhooks:
    return ReplicateWebhooks(WebhookSecrets.fixed(SECRET), FixedClock())


async def fetched_verifier() -> ReplicateWebhooks:
    """Secrets fetched per token: the prediction id is looked up before any signature check."""
    store = MemoryStore()
    async with store() as uow:
        await uow.tokens.add(ReplicateToken(id="t1", label="t1", secret="r8_fuzz",
                                            created_at=FixedClock().now()))
        await uow.commit()

    async def fetch(credential: TokenCredential) -> str:
        return SECRET

    return ReplicateWebhooks(WebhookSecrets(uow=store, fetch=fetch), FixedClock())


async def verify(verifier: ReplicateWebhooks, headers: dict[str, str], body: bytes) -> VerifiedWebhook | None:
    try:
        verified = await verifier.verify(headers, body)
    except (Unauthenticated, InvalidRequest):
        return None
    assert isinstance(verified, VerifiedWebhook)
    return verified


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "Webhook-Id",
                         "content-type", "x"]) | st.text(max_size=20),
        header_text, max_size=5,
    ),
    body=st.binary(max_size=300),
)
async def test_webhook_verifier_on_arbitrary_headers_and_bytes(headers, body):
    assert await verify(fixed_verifier(), headers, body) is None
    assert await verify(await fetched_verifier(), headers, body) is None


@FUZZ
@given(
    delivery=st.text(min_size=1, max_size=80),
    skew=st.integers(-1000, 1000),
    body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)),
)
async def test_webhook_verifier_on_validly_signed_arbitrary_bodies(delivery, skew, body):
    assume(delivery.strip() == delivery)
    stamp = NOW + skew
    headers = {"webhook-id": delivery, "webhook-timestamp": str(stamp),
               "webhook-signature": sign(SECRET, delivery, stamp, body)}
    expected = _expected_prediction(body)
    accept = abs(skew) <= 300 and delivery.isprintable() and len(delivery) <= 256 and expected is not None
    for verifier in (fixed_verifier(), await fetched_verifier()):
        if not accept:
            assert await verify(verifier, headers, body) is None
            continue
        verified = await verifier.verify(headers, body)
        assert expected is not None
        assert verified.delivery_id == delivery
        prediction_id, status = expected
        assert (verified.update.prediction_id, verified.update.trigger) == (prediction_id, PROVIDER_EVENTS[status])


def _expected_prediction(body: bytes) -> tuple[str, str] | None:
    """(id, status) when `body` is a prediction the verifier must accept, else None."""
    try:
        data = json.loads(body.decode())
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    prediction_id, status = data.get("id"), data.get("status")
    if not (isinstance(prediction_id, str) and prediction_id and len(prediction_id) <= 256
            and prediction_id.isprintable()):
        return None
    if status not in PROVIDER_EVENTS:
        return None
    return prediction_id, status


@FUZZ
@given(
    prediction=st.dictionaries(
        st.sampled_from(["id", "status", "output", "error", "metrics", "logs", "completed_at",
                         "started_at", "created_at", "data_removed", "urls"]),
        json_values, max_size=8,
    ),
    status=st.sampled_from(["starting", "processing", "succeeded", "failed", "canceled", "aborted", "x"]),
    prediction_id=st.text(min_size=1, max_size=40),
)
async def test_webhook_verifier_on_signed_prediction_shaped_bodies(prediction, status, prediction_id):
    data = {**prediction, "id": prediction_id, "status": status}
    body = json.dumps(data).encode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW),
               "webhook-signature": sign(SECRET, "msg_1", NOW, body)}
    accept = status in PROVIDER_EVENTS and len(prediction_id) <= 256 and prediction_id.isprintable()
    for verifier in (fixed_verifier(), await fetched_verifier()):
        if not accept:
            assert await verify(verifier, headers, body) is None
            continue
        verified = await verifier.verify(headers, body)
        assert verified.delivery_id == "msg_1"
        update = verified.update
        assert (update.prediction_id, update.trigger) == (prediction_id, PROVIDER_EVENTS[status])
        error = data.get("error")
        said = error if isinstance(error, str) and error else (str(error) if error else None)
        assert update.error == (said or "prediction aborted" if status == "aborted" else said)
        assert update.predict_time is None or (math.isfinite(update.predict_time) and update.predict_time >= 0)
        assert update.completed_at is None or update.completed_at.utcoffset() == timedelta(0)
        assert all(isinstance(url, str) for url in update.output or ())


REGISTRY = builtin_registry()
MODEL_IDS = [m.id for m in REGISTRY]
SETTING_NAMES = sorted({s.name for m in REGISTRY for s in m.settings})
maybe_known = st.one_of(st.sampled_from(MODEL_IDS), json_values)
settings_values = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(SETTING_NAMES), st.text(max_size=12)), json_values, max_size=6),
    json_values,
)


@FUZZ
@given(
    action=st.one_of(st.sampled_from(["create", "edit", "upscale", "remove_bg"]), json_values),
    model_id=maybe_known,
    prompt=st.one_of(st.none(), st.text(max_size=200), json_values),
    image=st.one_of(st.none(), st.text(max_size=100), st.just("https://example.com/a.png"), json_values),
    settings_value=settings_values,
    private=st.booleans(),
)
def test_prepare_on_arbitrary_requests(action, model_id, prompt, image, settings_value, private):
    request = GenerationRequest(action=action, model_id=model_id, prompt=prompt,
                                input_image_url=image, settings=settings_value)
    try:
        prepared = REGISTRY.prepare(request, UrlPolicy(allow_private_hosts=private))
    except InvalidRequest as error:
        assert isinstance(error.field, str) and error.field
        return
    assert prepared.model.id == model_id
    assert prepared.cost == prepared.model.price * prepared.num_outputs >= 0
    assert 1 <= prepared.num_outputs <= 4
    # What goes to Replicate and into the database is plain, finite JSON.
    text = json.dumps(prepared.replicate_input, allow_nan=False)
    json.dumps(prepared.settings, allow_nan=False)
    assert "\x00" not in text


@FUZZ
@given(page=st.integers(), limit=st.integers())
def test_generation_query_on_arbitrary_numbers(page, limit):
    try:
        query = GenerationQuery("user-1", page, limit)
    except InvalidRequest as error:
        assert error.field in ("page", "limit")
        assert not (1 <= page <= 1_000_000 and 1 <= limit <= 100)
        return
    assert 1 <= query.page <= 1_000_000 and 1 <= query.limit <= 100
    assert query.offset == (page - 1) * limit


@FUZZ
@given(st.text(max_size=120))
def test_url_policy_on_arbitrary_text(url):
    try:
        checked = UrlPolicy().check("input_image_url", url)
    except InvalidRequest as error:
        assert error.field == "input_image_url"
        return
    assert checked == url and url.lower().startswith(("http://", "https://"))


ENV_NAMES = [
    "BASE_DATABASE_URL", "BASE_REPLICATE_TOKENS", "BASE_REPLICATE_BASE_URL",
    "BASE_REPLICATE_WEBHOOK_SECRET", "BASE_PUBLIC_URL", "BASE_SUPABASE_JWT_SECRET",
    "BASE_SUPABASE_URL", "BASE_TELEGRAM_BOT_TOKEN", "BASE_SESSION_SECRET", "BASE_INITIAL_CREDITS",
    "BASE_ADMIN_USER_IDS", "BASE_RECONCILE_AFTER_SECONDS", "BASE_MAX_IN_FLIGHT_PER_USER",
    "BASE_OUTPUT_DIR", "BASE_ALLOW_PRIVATE_IMAGE_URLS",
]


@FUZZ
@given(st.dictionaries(st.sampled_from(ENV_NAMES), st.text(max_size=60), max_size=8))
def test_settings_from_arbitrary_environment(environ: dict[str, Any]):
    try:
        loaded = Settings.from_env(environ)
    except SettingsError as error:
        assert error.variable in ENV_NAMES
        return
    assert loaded.initial_credits >= 0 and loaded.max_in_flight_per_user >= 1
    assert math.isfinite(loaded.reconcile_after_seconds) and loaded.reconcile_after_seconds > 0
