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

import hashlib
import json
from typing import Any

from base_core.registry import GenerationRequest, PreparedGeneration
from base_core.errors import (
    Conflict,
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    NoTokenAvailable,
    ProviderError,
    ProviderInputRejected,
    TokenError,
    TooManyInFlight,
)
from base_core.generation import (
    Generation,
    GenerationPage,
    GenerationQuery,
    PredictionUpdate,
    Status,
)
from base_core.ledger import HoldAlreadyResolved, hold_key_for
from base_core.ports import TokenCredential, UnitOfWork
from base_core.tokens import ReplicateToken
from base_core.usecases.context import Context
from base_core.usecases.outputs import keep_outputs

MAX_IDEMPOTENCY_KEY = 200


async def create_generation(
    ctx: Context, user_id: str, request: GenerationRequest, idempotency_key: str | None = None
) -> Generation:
    prepared = ctx.registry.prepare(request, ctx.config.urls)
    fingerprint = _fingerprint(request)
    if idempotency_key is not None:
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidRequest("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        replay = await _replayed(ctx, user_id, idempotency_key, fingerprint)
        if replay is not None:
            return replay
    try:
        generation, token = await _accept(
            ctx, user_id, request, prepared, idempotency_key, fingerprint
        )
    except Conflict:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key got there first.
        replay = await _replayed(ctx, user_id, idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    return await submit(ctx, generation.id, generation, token)


async def _replayed(ctx: Context, user_id: str, key: str, fingerprint: str) -> Generation | None:
    async with ctx.uow() as uow:
        existing = await uow.generations.get_by_idempotency_key(user_id, key)
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(key)
    return existing


async def _accept(
    ctx: Context,
    user_id: str,
    request: GenerationRequest,
    prepared: PreparedGeneration,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[Generation, ReplicateToken]:
    """Hold the credits, store the generation and pick its first token, in one unit of work."""
    now = ctx.clock.now()
    model = prepared.model
    generation = Generation(
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
    )
    async with ctx.uow() as uow:
        account = await uow.ledger.account_for_update(user_id)
        if account is None:
            raise NotFound("user", user_id)
        cap = ctx.config.max_in_flight_per_user
        if await uow.generations.count_in_flight(user_id) >= cap:
            raise TooManyInFlight(cap, ctx.config.in_flight_retry_after)
        hold, entry = account.hold(prepared.cost, hold_key_for(generation.id), now, ctx.config.hold_ttl)
        # NoTokenAvailable here rolls everything back: nothing is held for a request that
        # no token could take.
        token = ctx.policy.choose(await uow.tokens.list_for_update(), now)
        token.record_request(now)
        await uow.generations.add(generation)
        await uow.ledger.add_hold(hold)
        await uow.ledger.append(entry)
        await uow.ledger.save_account(account)
        await uow.tokens.save(token)
        await uow.commit()
    return generation, token


async def submit(
    ctx: Context,
    generation_id: str,
    generation: Generation | None = None,
    token: ReplicateToken | None = None,
) -> Generation:
    """Send a pending generation to Replicate, failing over from token to token.

    `generation` spares a read when the caller has just stored it (only its model and
    input are used here; its status is checked again when the prediction is recorded).
    `token` is one already picked for it, its request already counted.
    """
    if generation is None:
        async with ctx.uow() as uow:
            generation = await uow.generations.get(generation_id)
    if generation is None:
        raise NotFound("generation", generation_id)
    tried: set[str] = set()
    while True:
        if token is None:
            try:
                token = await _take_token(ctx, tried)
            except NoTokenAvailable as exc:
                await _give_up(ctx, generation_id, "no Replicate token could take the generation")
                raise exc
        tried.add(token.id)
        credential = TokenCredential(token.id, token.secret)
        try:
            prediction = await ctx.inference.create(
                credential, _model_of(ctx, generation), generation.replicate_input, ctx.config.webhook
            )
        except TokenError as exc:
            await _record_token_failure(ctx, token.id, exc)
            token = None
            continue
        except ProviderInputRejected as exc:
            await _give_up(ctx, generation_id, f"Replicate refused the input: {exc.message}")
            raise
        return await _record_submission(
            ctx, generation_id, credential, prediction, had_failures=token.consecutive_failures > 0
        )


def _model_of(ctx: Context, generation: Generation) -> str:
    return ctx.registry.get(generation.model_id).replicate_model


async def _take_token(ctx: Context, tried: set[str]) -> ReplicateToken:
    async with ctx.uow() as uow:
        now = ctx.clock.now()
        token = ctx.policy.choose(await uow.tokens.list_for_update(), now, exclude=tried)
        token.record_request(now)
        await uow.tokens.save(token)
        await uow.commit()
        return token


async def _record_token_failure(ctx: Context, token_id: str, error: TokenError) -> None:
    async with ctx.uow() as uow:
        token = await uow.tokens.get_for_update(token_id)
        if token is not None:
            token.record_failure(error, ctx.clock.now(), ctx.policy)
            await uow.tokens.save(token)
            await uow.commit()


async def _give_up(ctx: Context, generation_id: str, message: str) -> None:
    """Fail a generation that never reached Replicate and give its credits back."""
    async with ctx.uow() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        if generation is None or generation.is_terminal:
            return
        previous = generation.status
        generation.fail(message, ctx.clock.now())
        await resolve_hold(ctx, uow, generation)
        await uow.generations.save(generation)
        await uow.commit()
    ctx.events.changed(generation, previous.value)


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
    async with ctx.uow() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        if generation is None:
            raise NotFound("generation", generation_id)
        previous = generation.status
        canceled_meanwhile = generation.is_terminal
        if not canceled_meanwhile:
            generation.submitted(prediction.prediction_id, token.token_id, now)
            if generation.apply(prediction, now) and generation.is_terminal:
                await resolve_hold(ctx, uow, generation)
            await uow.generations.save(generation)
            # Webhooks that beat us here; applied once the prediction is committed.
            parked = await uow.inbox.take(prediction.prediction_id)
        if had_failures:
            # After the account (resolve_hold): accounts before tokens, as in _accept.
            stored = await uow.tokens.get_for_update(token.token_id)
            if stored is not None and stored.record_success():
                await uow.tokens.save(stored)
        await uow.commit()
    if canceled_meanwhile:
        # The user deleted it while it was being submitted: stop the work at Replicate.
        await _cancel_quietly(ctx, token, prediction.prediction_id)
        return generation
    ctx.events.changed(generation, previous.value)
    if generation.needs_output_copy:  # the create answer itself was final
        generation = await keep_outputs(ctx, generation.id) or generation
    for update in parked:
        generation = await apply_update(ctx, update) or generation
    return generation


async def _take_parked(ctx: Context, prediction_id: str) -> list[PredictionUpdate]:
    async with ctx.uow() as uow:
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
    async with ctx.uow() as uow:
        if delivery_id is not None and not await uow.inbox.mark_delivered(delivery_id, now):
            return None
        generation = await uow.generations.get_by_prediction_for_update(update.prediction_id)
        if generation is None:
            await uow.inbox.park(update, now)
        else:
            previous = generation.status
            changed = generation.apply(update, now)
            if changed:
                if generation.is_terminal:
                    await resolve_hold(ctx, uow, generation)
                await uow.generations.save(generation)
        await uow.commit()
    if generation is not None:
        if changed:
            ctx.events.changed(generation, previous.value)
            if generation.needs_output_copy:
                generation = await keep_outputs(ctx, generation.id) or generation
        return generation
    # The create call may have recorded the prediction between our look and our park.
    async with ctx.uow() as uow:
        known = await uow.generations.get_by_prediction_for_update(update.prediction_id)
    if known is not None:
        for late in await _take_parked(ctx, update.prediction_id):
            await apply_update(ctx, late)
    return None


async def resolve_hold(ctx: Context, uow: UnitOfWork, generation: Generation) -> None:
    """Settle the hold of a completed generation, void it otherwise; once."""
    hold = await uow.ledger.hold_for_update(hold_key_for(generation.id))
    if hold is None or not hold.is_pending:
        return
    account = await uow.ledger.account_for_update(generation.user_id)
    if account is None:
        return
    now = ctx.clock.now()
    try:
        if generation.status is Status.COMPLETED:
            entry = account.settle(hold, now)
        else:
            entry = account.void(hold, now)
    except HoldAlreadyResolved:
        return
    await uow.ledger.append(entry)
    await uow.ledger.save_hold(hold)
    await uow.ledger.save_account(account)


async def get_generation(ctx: Context, user_id: str, generation_id: str) -> Generation:
    async with ctx.uow() as uow:
        generation = await uow.generations.get(generation_id)
    if generation is None:
        raise NotFound("generation", generation_id)
    generation.ensure_visible_to(user_id)
    return generation


async def list_generations(ctx: Context, query: GenerationQuery) -> GenerationPage:
    async with ctx.uow() as uow:
        return await uow.generations.list(query)


async def delete_generation(ctx: Context, user_id: str, generation_id: str) -> None:
    """Cancel it at Replicate if it is running, refund its hold, and hide it from the user."""
    async with ctx.uow() as uow:
        generation = await uow.generations.get(generation_id)
        token = (
            await uow.tokens.get(generation.token_id)
            if generation is not None and generation.token_id
            else None
        )
    if generation is None:
        raise NotFound("generation", generation_id)
    generation.ensure_visible_to(user_id)
    if not generation.is_terminal and generation.prediction_id and token is not None:
        await _cancel_quietly(ctx, TokenCredential(token.id, token.secret), generation.prediction_id)
    async with ctx.uow() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        if generation is None or not generation.is_visible_to(user_id):
            raise NotFound("generation", generation_id)
        previous = generation.status
        now = ctx.clock.now()
        if not generation.is_terminal:
            generation.cancel(now, "canceled by the user")
            await resolve_hold(ctx, uow, generation)
        generation.delete(now)
        await uow.generations.save(generation)
        await uow.commit()
    if previous is not generation.status:
        ctx.events.changed(generation, previous.value)


async def _cancel_quietly(ctx: Context, token: TokenCredential, prediction_id: str) -> None:
    """Ask Replicate to stop; the user's cancel stands even when Replicate can't be reached."""
    try:
        await ctx.inference.cancel(token, prediction_id)
    except ProviderError:
        pass


async def refresh(ctx: Context, generation_id: str) -> Generation | None:
    """Ask Replicate about one in-flight generation with its own token and apply the answer."""
    async with ctx.uow() as uow:
        generation = await uow.generations.get(generation_id)
        token = (
            await uow.tokens.get(generation.token_id)
            if generation is not None and generation.token_id
            else None
        )
    if generation is None or generation.is_terminal or not generation.prediction_id or token is None:
        return generation
    update = await ctx.inference.get(TokenCredential(token.id, token.secret), generation.prediction_id)
    return await apply_update(ctx, update)


def _fingerprint(request: GenerationRequest) -> str:
    canonical: dict[str, Any] = {
        "action": request.action,
        "model_id": request.model_id,
        "prompt": request.prompt,
        "input_image_url": request.input_image_url,
        "settings": dict(request.settings),
    }
    return hashlib.sha256(_CANONICAL.encode(canonical).encode()).hexdigest()


# What json.dumps(sort_keys=True, separators=(",", ":"), default=str) builds on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
