"""The simulated Replicate: creates predictions and drives them to the end of their lives."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from replicate_simulator.accounts import Accounts
from replicate_simulator.config import Settings, SimulatorConfig
from replicate_simulator.faults import Faults
from replicate_simulator.generation import GenerationFailed, Limits, OutputFile, generate
from replicate_simulator.images import CONTENT_TYPES
from replicate_simulator.models import Catalog, InputInvalid, InvalidField, ModelSpec
from replicate_simulator.state import FileStore, History, Prediction, Status, new_prediction_id
from replicate_simulator.uploads import Uploads
from replicate_simulator.webhooks import Retries, Webhook, WebhookSender

WEBHOOK_EVENTS = frozenset({"start", "output", "logs", "completed"})
DEFAULT_FAILURE = "Prediction failed: the model raised an error (simulated)"

T = TypeVar("T")


class Engine:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.settings = Settings.from_config(config)
        self.accounts = Accounts(config)
        self.faults = Faults()
        self.catalog = Catalog()
        self.files = FileStore()
        self.history = History()
        self.uploads = Uploads()
        self.base_url = config.public_url or ""
        self._limits = Limits(config.image_long_side, config.max_upscale_side)
        self._predictions: dict[str, Prediction] = {}
        self._held_webhooks: dict[str, list[Webhook]] = {}
        self._retention_timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self.webhooks = WebhookSender(
            self.history,
            Retries(config.webhook_attempts, config.webhook_backoff, config.webhook_timeout),
            self._client,
            self._spawn,
        )

    # -- running inside a server's event loop ------------------------------------------

    def bind(self, base_url: str) -> None:
        if not self.config.public_url:
            self.base_url = base_url.rstrip("/")

    async def startup(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def shutdown(self) -> None:
        for timer in self._retention_timers.values():
            timer.cancel()
        self._retention_timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._loop = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=True)
        return self._http

    def _spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def call_in_loop(self, function: Callable[[], T]) -> T:
        """Run `function` on the server's loop, waiting for it when called from elsewhere."""
        loop = self._loop
        if loop is None or not loop.is_running() or _running_loop() is loop:
            return function()

        async def call() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    # -- operations ----------------------------------------------------------------------

    def create(
        self,
        model: ModelSpec,
        token: str,
        account: str,
        raw_input: object,
        webhook: object = None,
        events: object = None,
    ) -> Prediction:
        params = model.validate(raw_input)
        webhook_url, webhook_events = _webhook_options(webhook, events)
        prediction = Prediction(
            id=new_prediction_id(),
            model=model,
            input=dict(raw_input),  # type: ignore[call-overload]
            params=params,
            token=token,
            account=account,
            created_at=time.time(),
            webhook=webhook_url,
            webhook_events=webhook_events,
            fault=self.faults.take_for_prediction(token),
        )
        self._predictions[prediction.id] = prediction
        run = self._spawn(self._run(prediction))
        self._runs[prediction.id] = run
        run.add_done_callback(lambda _: self._runs.pop(prediction.id, None))
        return prediction

    def get(self, prediction_id: str, account: str | None = None) -> Prediction | None:
        prediction = self._predictions.get(prediction_id)
        if prediction is None or (account is not None and prediction.account != account):
            return None
        return prediction

    def predictions(self, account: str | None = None) -> list[Prediction]:
        return [p for p in self._predictions.values() if account in (None, p.account)]

    def run_count(self, model: ModelSpec) -> int:
        return sum(1 for p in self._predictions.values() if p.model is model)

    def cancel(self, prediction: Prediction) -> None:
        if not prediction.is_terminal:
            run = self._runs.pop(prediction.id, None)
            if run is not None:
                run.cancel()
            self._finish(prediction, "canceled")

    def remove_data(self, prediction_id: str) -> None:
        prediction = self._predictions.get(prediction_id)
        if prediction is not None:
            prediction.remove_data()
            self.files.delete(prediction.file_paths)

    def upload(self, data: bytes, extension: str) -> str:
        path = f"uploads/{secrets.token_hex(8)}.{extension}"
        self.files.put(path, data, CONTENT_TYPES.get(extension, "application/octet-stream"))
        return f"{self.base_url}/files/{path}"

    def reset(self) -> None:
        for prediction in self._predictions.values():
            prediction.finished.set()
        for task in list(self._tasks):
            task.cancel()
        for timer in self._retention_timers.values():
            timer.cancel()
        self._retention_timers.clear()
        self._predictions.clear()
        self._held_webhooks.clear()
        self.files.clear()
        self.uploads.clear()
        self.history.clear()
        self.faults.clear()
        self.accounts.reset()
        self.settings = Settings.from_config(self.config)

    # -- a prediction's life -------------------------------------------------------------

    async def _run(self, prediction: Prediction) -> None:
        try:
            await self._live(prediction)
        except Exception as error:  # a bug in the simulator must not leave it running forever
            if not prediction.is_terminal:
                self._finish(prediction, "failed", f"Simulator error: {error!r}")

    async def _live(self, prediction: Prediction) -> None:
        fault = prediction.fault
        await asyncio.sleep(self.settings.starting_delay)
        if fault is not None and fault.outcome == "aborted":
            self._finish(prediction, "aborted")
            return
        prediction.move_to("processing", time.time())
        prediction.logs = "Starting prediction\n"
        self._notify(prediction, {"start"})
        began = time.monotonic()
        try:
            outputs = await generate(
                prediction.model,
                prediction.params,
                lambda url: self._fetch(url, prediction.account),
                self._limits,
            )
        except GenerationFailed as error:
            prediction.logs += f"Error: {error}\n"
            self._finish(prediction, "failed", str(error))
            return
        await asyncio.sleep(max(0.0, self.settings.processing_delay - (time.monotonic() - began)))
        if fault is not None and fault.outcome == "failed":
            prediction.logs += "Traceback (most recent call last):\n  ...\n"
            self._finish(prediction, "failed", fault.error or DEFAULT_FAILURE)
            return
        self._store_outputs(prediction, outputs)
        prediction.logs += f"Generated {len(outputs)} file(s)\n"
        self._notify(prediction, {"output", "logs"})
        self._finish(prediction, "succeeded")

    def _store_outputs(self, prediction: Prediction, outputs: list[OutputFile]) -> None:
        urls = []
        for index, output in enumerate(outputs):
            path = f"{prediction.id}/out-{index}.{output.extension}"
            self.files.put(path, output.data, CONTENT_TYPES[output.extension])
            prediction.file_paths.append(path)
            urls.append(f"{self.base_url}/files/{path}")
        prediction.output = urls if prediction.model.output == "list" else urls[0]

    def _finish(self, prediction: Prediction, status: Status, error: str | None = None) -> None:
        prediction.error = error
        prediction.move_to(status, time.time())
        self._notify(prediction, {"completed"})
        retention = self.settings.retention
        if retention is not None:
            loop = asyncio.get_running_loop()
            self._retention_timers[prediction.id] = loop.call_later(
                retention, self._expire, prediction.id
            )

    def _expire(self, prediction_id: str) -> None:
        self._retention_timers.pop(prediction_id, None)
        self.remove_data(prediction_id)

    async def _fetch(self, url: str, account: str) -> bytes:
        uploaded = f"{self.base_url}/v1/files/"
        if self.base_url and url.startswith(uploaded):
            file_id = urlsplit(url).path.removeprefix("/v1/files/").removesuffix("/download")
            upload = self.uploads.get(file_id, account)
            if upload is None:
                raise GenerationFailed(f"Failed to download {url}: HTTP 404")
            return upload.data
        own_prefix = f"{self.base_url}/files/"
        if self.base_url and url.startswith(own_prefix):
            stored = self.files.get(urlsplit(url).path.removeprefix("/files/"))
            if stored is None:
                raise GenerationFailed(f"Failed to download {url}: HTTP 404")
            return stored.data
        response = await self._client().get(url, timeout=self.config.fetch_timeout)
        response.raise_for_status()
        return response.content

    # -- webhooks --------------------------------------------------------------------------

    def _notify(self, prediction: Prediction, events: set[str]) -> None:
        if prediction.webhook is None or not events & prediction.webhook_events:
            return
        fault = prediction.fault.webhook if prediction.fault is not None else None
        if fault == "lost":
            return
        webhook = Webhook(
            prediction_id=prediction.id,
            url=prediction.webhook,
            secret=self.accounts.secret_for_account(prediction.account),
            payload=prediction.to_json(self.base_url),
            terminal=prediction.is_terminal,
        )
        if fault == "out_of_order" and not webhook.terminal:
            self._held_webhooks.setdefault(prediction.id, []).append(webhook)
            return
        copies = 2 if fault == "duplicate" else 1
        for _ in range(copies):
            self.webhooks.send(webhook)
        if webhook.terminal:
            for late in self._held_webhooks.pop(prediction.id, []):
                self.webhooks.send(late)


def _webhook_options(webhook: object, events: object) -> tuple[str | None, frozenset[str]]:
    problems = []
    if webhook is not None:
        parts = urlsplit(webhook) if isinstance(webhook, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(InvalidField("format", "webhook", "webhook must be an HTTP(S) URL"))
    chosen = WEBHOOK_EVENTS
    if events is not None:
        if not isinstance(events, list) or not set(_strings(events)) <= WEBHOOK_EVENTS:
            listed = ", ".join(f'"{e}"' for e in sorted(WEBHOOK_EVENTS))
            problems.append(
                InvalidField(
                    "enum",
                    "webhook_events_filter",
                    f"webhook_events_filter items must be one of the following: {listed}",
                )
            )
        else:
            chosen = frozenset(_strings(events))
    if problems:
        raise InputInvalid(problems)
    return (webhook if isinstance(webhook, str) else None), chosen


def _strings(values: Iterable[object]) -> list[str]:
    return [v if isinstance(v, str) else repr(v) for v in values]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

