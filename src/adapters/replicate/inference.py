"""The InferenceProvider port on Replicate, through the official `replicate` client.

Each token gets its own client (Replicate tells accounts apart by token), cached per event
loop because the client's async HTTP pool binds to the loop it first runs on. Underneath
the client sits a transport of ours that keeps the raw answer: the 1.0.7 client drops the
`Retry-After` header and the `invalid_fields` of its errors, and cannot read a prediction
whose status is `aborted`; the raw answer fills those gaps. Every failure leaves this
module as an error of the core (base_core.errors).
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import attrs
import httpx
from pydantic.v1 import ValidationError as ClientValidationError
from replicate.client import Client
from replicate.exceptions import ReplicateError

from adapters.replicate import _errors
from adapters.replicate._predictions import MalformedPrediction, update_from_json
from base_core.errors import BaseError, ProviderUnavailable
from base_core.generation import PredictionUpdate
from base_core.ports import TokenCredential, WebhookTarget

DEFAULT_BASE_URL = "https://api.replicate.com"
T = TypeVar("T")


@attrs.define
class _Capture:
    """The last raw answer seen by the transport during one call."""

    response: httpx.Response | None = None


_CAPTURE: ContextVar[_Capture | None] = ContextVar("replicate_raw_response", default=None)

# The client's own transport retries these for idempotent methods, sleeping up to a minute
# each time (as long as a Retry-After says, uncapped). A poll must not stall like that: the
# pool decides when to ask again, so such an answer is handed straight back.
_CLIENT_RETRIED_STATUSES = frozenset({429, 503, 504})


class _AnsweredStatus(Exception):
    """Raised by the transport to stop the client retrying a GET."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _RawKeepingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        capture = _CAPTURE.get()
        if capture is not None:
            capture.response = response
        if request.method != "POST" and response.status_code in _CLIENT_RETRIED_STATUSES:
            raise _AnsweredStatus(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@attrs.frozen
class _Pooled:
    client: Client
    transport: _RawKeepingTransport


class ReplicateInference:
    """Replicate's predictions API for the token pool; see the module docstring.

    `timeout` bounds every call as a whole (connecting, retries, reading), since the client
    sends create requests with no timeout of its own. `transport` replaces the network
    below the client (tests, proxies); it is wrapped, never shared between event loops
    unless the caller makes it so.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        *,
        connect_timeout: float = 5.0,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._base_url = base_url.rstrip("/") or DEFAULT_BASE_URL
        self._timeout = timeout
        self._http_timeout = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        self._transport_factory = transport_factory
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, str], _Pooled]
        ] = weakref.WeakKeyDictionary()

    @property
    def base_url(self) -> str:
        return self._base_url

    # -- the port ------------------------------------------------------------------------

    async def create(
        self,
        token: TokenCredential,
        replicate_model: str,
        replicate_input: dict[str, Any],
        webhook: WebhookTarget | None,
    ) -> PredictionUpdate:
        model, _, version = replicate_model.partition(":")
        params: dict[str, Any] = {}
        if webhook is not None:
            params["webhook"] = webhook.url
            params["webhook_events_filter"] = list(webhook.events)
        payload = dict(replicate_input)

        async def call(client: Client) -> Any:
            if version:
                return await client.predictions.async_create(version=version, input=payload, **params)
            return await client.models.predictions.async_create(model=model, input=payload, **params)

        return await self._prediction(token, "create", replicate_model, call)

    async def get(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self._prediction(
            token, "get", prediction_id, lambda c: c.predictions.async_get(prediction_id)
        )

    async def cancel(self, token: TokenCredential, prediction_id: str) -> PredictionUpdate:
        return await self._prediction(
            token, "cancel", prediction_id, lambda c: c.predictions.async_cancel(prediction_id)
        )

    # -- beyond the port -------------------------------------------------------------------

    async def webhook_secret(self, token: TokenCredential) -> str:
        """The `whsec_...` signing secret of the token's account (`GET /v1/webhooks/default/secret`)."""
        secret, _ = await self._call(
            token, "secret", "webhook secret", lambda c: c.webhooks.default.async_secret()
        )
        key = getattr(secret, "key", None)
        if not isinstance(key, str) or not key:
            raise ProviderUnavailable("Replicate answered a webhook secret without a key")
        return key

    async def account(self, token: TokenCredential) -> str:
        """The username of the token's account (`GET /v1/account`): a cheap call that
        tells whether Replicate takes the token (`base check`)."""
        account, _ = await self._call(token, "secret", "account", lambda c: c.accounts.async_current())
        username = getattr(account, "username", None)
        return username if isinstance(username, str) else "?"

    async def aclose(self) -> None:
        """Close the connections opened from the running event loop."""
        loop = asyncio.get_running_loop()
        pooled = self._clients.pop(loop, {})
        for entry in pooled.values():
            await entry.transport.aclose()

    # -- internals -------------------------------------------------------------------------

    def _client(self, token: TokenCredential) -> Client:
        loop = asyncio.get_running_loop()
        per_loop = self._clients.setdefault(loop, {})
        # The secret is part of the key so that a token whose secret was replaced gets a
        # new client; hashed so the key itself never shows it.
        key = (token.token_id, hashlib.sha256(token.secret.encode()).hexdigest())
        entry = per_loop.get(key)
        if entry is None:
            inner = self._transport_factory() if self._transport_factory else None
            transport = _RawKeepingTransport(inner)
            client = Client(
                api_token=token.secret,
                base_url=self._base_url,
                timeout=self._http_timeout,
                transport=transport,
            )
            entry = per_loop[key] = _Pooled(client, transport)
        return entry.client

    async def _prediction(
        self,
        token: TokenCredential,
        operation: _errors.Operation,
        subject: str,
        call: Callable[[Client], Awaitable[Any]],
    ) -> PredictionUpdate:
        prediction, raw = await self._call(token, operation, subject, call)
        try:
            # The answer the client read is read again as plain JSON: a third of the cost
            # of turning its pydantic Prediction back into a dict, and the same fields.
            if raw is not None and raw.is_success:
                return update_from_json(_json_object(raw))
            if prediction is not None:
                return update_from_json(prediction.dict())
        except MalformedPrediction as error:
            raise ProviderUnavailable(f"Replicate answered an unreadable prediction: {error}") from None
        raise ProviderUnavailable("Replicate answered an unreadable prediction")

    async def _call(
        self,
        token: TokenCredential,
        operation: _errors.Operation,
        subject: str,
        call: Callable[[Client], Awaitable[T]],
    ) -> tuple[T | None, httpx.Response | None]:
        """Run one client call; return its result, or None and the raw 2xx answer it could not read."""
        capture = _Capture()
        reset = _CAPTURE.set(capture)
        error: BaseError | None = None
        try:
            async with asyncio.timeout(self._timeout):
                return await call(self._client(token)), capture.response
        except ClientValidationError:
            # 1.0.7 refuses statuses it does not know (`aborted`): read the raw answer instead.
            raw = capture.response
            if raw is not None and raw.is_success:
                return None, raw
            error = ProviderUnavailable("Replicate answered an unreadable prediction")
        except ReplicateError as exc:
            error = _errors.from_replicate_error(exc, operation, subject, capture.response)
        except _AnsweredStatus as exc:
            error = _errors.from_status(exc.response.status_code, operation, subject, exc.response)
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            error = _errors.from_transport_error(exc)
        finally:
            _CAPTURE.reset(reset)
        # Raised outside the except blocks so the client's exception (whose request carries
        # the Authorization header) is not chained onto ours.
        assert error is not None
        raise error


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise MalformedPrediction("the answer is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedPrediction("the answer is not a JSON object")
    return data


__all__ = ["DEFAULT_BASE_URL", "ReplicateInference"]
