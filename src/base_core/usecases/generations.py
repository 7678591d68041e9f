"""Generations: create (hold, submit, fail over), apply Replicate's news, read, delete.

Creating one runs in short units of work around the call to Replicate, never holding a
transaction open across the network:

1. validate and price the request;
2. one unit of work: check the in-flight cap, hold the credits, store the generation as
   `pending`, and pick the token for it (counting the request on that token) — together
   or not at all, so a request no token could take holds nothing;
3. submit; a token-side error is recorded on that token and the next one is picked, in a
   unit of work of its own; a refused input fails the generation;
4. one unit of work: record the prediction on the generation and take the webhooks
   parked for it (or fail it and void the hold when nothing could take it).

Units of work that lock both a credit account and tokens take the account first, so two
of them can never wait on each other.

Applying an update (webhook, poll, the create answer itself) moves the generation through
the lifecycle table and settles or voids its hold in the same unit of work.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

from base_core.errors import (
    Conflict,
    IdempotencyConflict,
    InfrastructureError,
    InvalidRequest,
    NotFound,
    NoTokenAvailable,
    ProviderInputRejected,
    TokenError,
    TooManyInFlight,
)
from base_core.generation import (
    Cancellation,
    Failure,
    Generation,
    GenerationPage,
    GenerationQuery,
    PredictionUpdate,
)
from base_core.image_urls import UrlPolicy
from base_core.ledger import hold_key_for
from base_core.ports import TokenCredential
from base_core.registry import GenerationRequest, PreparedGeneration
from base_core.tokens import ReplicateToken
from base_core.uploads import Upload
from base_core.usecases.context import Context
from base_core.usecases.endings import advance, cancel_at_replicate
from base_core.usecases.files import owned_upload_in, purge, queue_generation_files
from base_core.usecases.outputs import keep_outputs

MAX_IDEMPOTENCY_KEY = 200
ALLOW_OWN = UrlPolicy(allow_private_hosts=True)


async def create_generation(
    ctx: Context, user_id: str, request: GenerationRequest, idempotency_key: str | None = None
) -> Generation:
    url = request.input_image_url
    upload = await owned_upload_in(ctx, user_id, url) if url else None
    # An upload of the caller's is the service's own file: the URL policy (public hosts
    # only) is for what Replicate would fetch from elsewhere.
    prepared = ctx.registry.prepare(request, ALLOW_OWN if upload is not None else ctx.config.urls)
    # The fingerprint tells a retry from another request under the same key: without a
    # key nothing will ever compare it, so none is worked out.
    fingerprint = None
    if idempotency_key is not None:
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidRequest("idempotency_key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        fingerprint = _fingerprint(request)
    provider_input = None
    if upload is not None:
        provider_input = await provider_input_for(ctx, prepared.replicate_input, request, upload)
    try:
        generation, token = await _accept(
            ctx, user_id, request, prepared, idempotency_key, fingerprint,
            upload.id if upload is not None else None,
        )
    except Conflict:
        if idempotency_key is None or fingerprint is None:
            raise
        # A concurrent request with the same key got there first.
        replay = await _replayed(ctx, user_id, idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    if token is None:  # created before under the same key: the request is answered again
        return generation
    return await submit(ctx, generation.id, generation, token, provider_input)


async def provider_input_for(
    ctx: Context, replicate_input: dict[str, Any], request: GenerationRequest, upload: Upload
) -> dict[str, Any]:
    """Replicate's input with the upload's URL replaced by one Replicate can read.

    What is stored keeps the caller's URL; only what is sent differs."""
    if ctx.links is not None:
        readable = await ctx.links.for_provider(upload.key, upload.content_type)
    else:
        readable = await _data_url(ctx, upload)
    given = request.input_image_url

    def swap(value: Any) -> Any:
        if value == given:
            return readable
        if isinstance(value, (list, tuple)):
            return [swap(v) for v in value]
        return value

    return {name: swap(value) for name, value in replicate_input.items()}


async def _data_url(ctx: Context, upload: Upload) -> str:
    stored = await ctx.outputs.open(upload.key) if ctx.outputs is not None else None
    if stored is None:
        raise NotFound("upload", upload.id)
    content = b"".join([chunk async for chunk in stored.chunks])
    return f"data:{upload.content_type};base64,{base64.b64encode(content).decode('ascii')}"


async def _replayed(ctx: Context, user_id: str, key: str, fingerprint: str) -> Generation | None:
    async with ctx.work() as uow:
        existing = await uow.generations.get_by_idempotency_key(user_id, key)
    return None if existing is None else _same_request(existing, key, fingerprint)


def _same_request(existing: Generation, key: str, fingerprint: str | None) -> Generation:
    """The generation created before under `key`, if this request is the same one."""
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(key)
    return existing


async def _accept(
    ctx: Context,
    user_id: str,
    request: GenerationRequest,
    prepared: PreparedGeneration,
    idempotency_key: str | None,
    fingerprint: str | None,
    upload_id: str | None = None,
) -> tuple[Generation, ReplicateToken | None]:
    """Hold the credits, store the generation and pick its first token, in one unit of
    work; or, when a create under the same idempotency key is stored, that generation and
    no token, with nothing held. (Two such requests at once: the second's insert meets the
    key's unique index, a Conflict, and the caller reads the first.)"""
    now = ctx.clock.now()
    model = prepared.model
    generation = Generation.accept(
        id=ctx.ids.new_id(),
        user_id=user_id,
        action=model.action,
        model_id=model.id,
        model_name=model.name,
        prompt=request.prompt,
        input_image_url=request.input_image_url,
        settings=prepared.settings,
        replicate_input=prepared.replicate_input,
        cost=prepared.cost,
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        input_upload_id=upload_id,
    )
    async with ctx.work() as uow:
        if idempotency_key is not None:
            existing = await uow.generations.get_by_idempotency_key(user_id, idempotency_key)
            if existing is not None:
                return _same_request(existing, idempotency_key, fingerprint), None
        account = await uow.ledger.account_for_update(user_id)
        if account is None:
            raise NotFound("user", user_id)
        cap = ctx.config.max_in_flight_per_user
        if await uow.generations.count_in_flight(user_id) >= cap:
            raise TooManyInFlight(cap, ctx.config.in_flight_retry_after)
        account, hold, entry = account.hold(
            prepared.cost, hold_key_for(generation.id), now, ctx.config.hold_ttl
        )
        # NoTokenAvailable here rolls everything back: nothing is held for a request that
        # no token could take.
        token = ctx.policy.choose(await uow.tokens.all_for_update(), now).record_request(now)
        await uow.generations.add(generation)
        await uow.ledger.post(account, entry, hold)
        await uow.tokens.save(token)
        await uow.commit()
    return generation, token


async def submit(
    ctx: Context,
    generation_id: str,
    generation: Generation | None = None,
    token: ReplicateToken | None = None,
    provider_input: dict[str, Any] | None = None,
) -> Generation:
    """Send a pending generation to Replicate, failing over from token to token.

    `provider_input` replaces the stored input when what Replicate must read differs from
    what the caller gave (an upload's URL).

    `generation` spares a read when the caller has just stored it (only its model and
    input are used here; its status is checked again when the prediction is recorded).
    `token` is one already picked for it, its request already counted.
    """
    if generation is None:
        async with ctx.work() as uow:
            generation = await uow.generations.get(generation_id)
    if generation is None:
        raise NotFound("generation", generation_id)
    tried: set[str] = set()
    while True:
        if token is None:
            try:
                token = await _take_token(ctx, tried)
            except NoTokenAvailable:
                await _end(ctx, generation_id, Failure("no Replicate token could take the generation"))
                raise
        tried.add(token.id)
        credential = TokenCredential(token.id, token.secret)
        try:
            prediction = await ctx.inference.create(
                credential, ctx.registry.get(generation.model_id).replicate_model,
                provider_input if provider_input is not None else generation.replicate_input,
                ctx.config.webhook,
            )
        except TokenError as exc:
            await record_token_failure(ctx, token.id, exc)
            token = None
            continue
        except ProviderInputRejected as exc:
            await _end(ctx, generation_id, Failure(f"Replicate refused the input: {exc.message}"))
            raise
        return await _record_submission(
            ctx, generation_id, credential, prediction, had_failures=token.consecutive_failures > 0
        )


async def _take_token(ctx: Context, tried: set[str]) -> ReplicateToken:
    async with ctx.work() as uow:
        now = ctx.clock.now()
        token = ctx.policy.choose(await uow.tokens.all_for_update(), now, exclude=tried)
        token = token.record_request(now)
        await uow.tokens.save(token)
        await uow.commit()
        return token


async def record_token_failure(ctx: Context, token_id: str, error: TokenError) -> None:
    """What a token-side error does to the token (cooldown, retirement, a failure counted),
    whether it came from a create, a poll or a cancel."""
    async with ctx.work() as uow:
        token = await uow.tokens.get_for_update(token_id)
        if token is not None:
            await uow.tokens.save(token.record_failure(error, ctx.clock.now(), ctx.policy))
            await uow.commit()


async def _end(ctx: Context, generation_id: str, news: Failure | Cancellation) -> Generation | None:
    """End a generation by the service's decision, in a unit of work of its own; None when
    it had ended already."""
    async with ctx.work() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        if generation is None:
            return None
        ended = await advance(uow, generation, news, ctx.clock.now())
        await uow.commit()
    return ended


async def _record_submission(
    ctx: Context,
    generation_id: str,
    token: TokenCredential,
    prediction: PredictionUpdate,
    *,
    had_failures: bool,
) -> Generation:
    """Record the prediction on the generation, and the success on its token.

    `had_failures`: the token had failures in a row when it was picked, so this success
    ends the row; a token picked with none is not locked and written again for nothing.
    """
    now = ctx.clock.now()
    parked: list[PredictionUpdate] = []
    async with ctx.work() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        if generation is None:
            raise NotFound("generation", generation_id)
        canceled_meanwhile = generation.is_terminal
        if not canceled_meanwhile:
            submitted = generation.submitted(prediction.prediction_id, token.token_id, now)
            moved = await advance(uow, submitted, prediction, now)
            # None: the create answer said nothing new.
            generation = moved or await uow.generations.save(submitted)
            # Webhooks that beat us here; applied once the prediction is committed.
            parked = await uow.inbox.take(prediction.prediction_id)
        if had_failures:
            # After the account (the hold's resolution): accounts before tokens, as in _accept.
            stored = await uow.tokens.get_for_update(token.token_id)
            recovered = stored.record_success() if stored is not None else None
            if recovered is not None:
                await uow.tokens.save(recovered)
        await uow.commit()
    if canceled_meanwhile:
        # The user deleted it while it was being submitted: stop the work at Replicate.
        await cancel_at_replicate(ctx, token.token_id, prediction.prediction_id)
        return generation
    if ctx.outputs is not None and generation.needs_output_copy:  # the create answer was final
        generation = await keep_outputs(ctx, generation.id) or generation
    for update in parked:
        generation = await apply_update(ctx, update) or generation
    return generation


async def _take_parked(ctx: Context, prediction_id: str) -> list[PredictionUpdate]:
    async with ctx.work() as uow:
        parked = await uow.inbox.take(prediction_id)
        await uow.commit()
        return parked


async def apply_update(
    ctx: Context, update: PredictionUpdate, delivery_id: str | None = None
) -> Generation | None:
    """Apply what Replicate says about a prediction; duplicates and stale news change nothing.

    An update for a prediction not stored yet (the webhook beat the create call) is parked
    and applied as soon as the prediction is recorded. Returns the generation, or None when
    the update was parked or a duplicate delivery.
    """
    now = ctx.clock.now()
    moved: Generation | None = None
    async with ctx.work() as uow:
        if delivery_id is not None and not await uow.inbox.mark_delivered(delivery_id, now):
            return None
        generation = await uow.generations.get_by_prediction_for_update(update.prediction_id)
        if generation is None:
            await uow.inbox.park(update, now)
        else:
            moved = await advance(uow, generation, update, now)
        await uow.commit()
    if generation is not None:
        if moved is None:
            return generation
        if ctx.outputs is not None and moved.needs_output_copy:
            return await keep_outputs(ctx, moved.id) or moved
        return moved
    # The create call may have recorded the prediction between our look and our park.
    async with ctx.work() as uow:
        known = await uow.generations.get_by_prediction_for_update(update.prediction_id)
    if known is not None:
        for late in await _take_parked(ctx, update.prediction_id):
            await apply_update(ctx, late)
    return None


async def get_generation(ctx: Context, user_id: str, generation_id: str) -> Generation:
    async with ctx.work() as uow:
        generation = await uow.generations.get(generation_id)
    if generation is None:
        raise NotFound("generation", generation_id)
    generation.ensure_visible_to(user_id)
    return generation


async def find_generation(ctx: Context, user_id: str, generation_id: str) -> Generation | None:
    """One of the user's generations, deleted ones too (a live stream tells of the
    deletion); None when there is none or it is another user's."""
    async with ctx.work() as uow:
        generation = await uow.generations.get(generation_id)
    return generation if generation is not None and generation.user_id == user_id else None


async def changed_since(
    ctx: Context, user_id: str, since: datetime, limit: int
) -> list[Generation]:
    """The user's generations changed at or after `since` (deleted ones too), oldest first."""
    async with ctx.work() as uow:
        return await uow.generations.changed_since(user_id, since, limit)


async def list_generations(ctx: Context, query: GenerationQuery) -> GenerationPage:
    async with ctx.work() as uow:
        return await uow.generations.page(query)


async def delete_generation(ctx: Context, user_id: str, generation_id: str) -> None:
    """Cancel it at Replicate if it is running, refund its hold, and hide it from the user."""
    async with ctx.work() as uow:
        generation = await uow.generations.get(generation_id)
    if generation is None:
        raise NotFound("generation", generation_id)
    generation.ensure_visible_to(user_id)
    if not generation.is_terminal and generation.prediction_id:
        await cancel_at_replicate(ctx, generation.token_id, generation.prediction_id)
    async with ctx.work() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        if generation is None or not generation.is_visible_to(user_id):
            raise NotFound("generation", generation_id)
        now = ctx.clock.now()
        canceled = await advance(uow, generation, Cancellation("canceled by the user"), now)
        deleted = (canceled or generation).delete(now)
        await uow.generations.save(deleted)
        keys = await queue_generation_files(uow, deleted)
        await uow.commit()
    try:
        await purge(ctx, keys)
    except InfrastructureError:
        pass  # still queued: the reconciler deletes them once the store answers


async def refresh(ctx: Context, generation_id: str) -> Generation | None:
    """Ask Replicate about one in-flight generation with its own token and apply the answer.

    A token-side error is recorded on the token, as on a create, and raised."""
    async with ctx.work() as uow:
        generation = await uow.generations.get(generation_id)
        token = (
            await uow.tokens.get(generation.token_id)
            if generation is not None and generation.token_id
            else None
        )
    if generation is None or generation.is_terminal or not generation.prediction_id or token is None:
        return generation
    try:
        update = await ctx.inference.get(TokenCredential(token.id, token.secret), generation.prediction_id)
    except TokenError as error:
        await record_token_failure(ctx, token.id, error)
        raise
    return await apply_update(ctx, update)


def _fingerprint(request: GenerationRequest) -> str:
    canonical: dict[str, Any] = {
        "action": request.action,
        "model_id": request.model_id,
        "prompt": request.prompt,
        "input_image_url": request.input_image_url,
        "settings": dict(request.settings),
    }
    return hashlib.sha256(_canonical(canonical).encode()).hexdigest()


# json.dumps(sort_keys=True, separators=(",", ":"), default=str), the encoder built once:
# `JSONEncoder.encode` builds C's encoder again on every call. No circular check: what is
# fingerprinted came from JSON (the text is the same either way).
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODE = (
    _C_ENCODER(None, str, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True)
    if _C_ENCODER is not None
    else None
)
_FALLBACK = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def _canonical(value: dict[str, Any]) -> str:
    if _ENCODE is None:  # an interpreter without the C accelerator
        return _FALLBACK.encode(value)
    return "".join(_ENCODE(value, 0))
