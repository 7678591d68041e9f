"""The token pool as operators see it: add, enable, disable, statistics."""

from __future__ import annotations

from collections.abc import Iterable

from base_core.errors import Conflict, InvalidRequest, NotFound
from base_core.text import is_line, is_word
from base_core.tokens import (
    REPLICATE_TOKEN_SHAPE,
    ReplicateToken,
    TokenStats,
    looks_like_replicate_token,
)
from base_core.usecases.context import Context

MAX_SECRET_LENGTH = 500
MAX_LABEL_LENGTH = 100


async def add_token(ctx: Context, secret: str, label: str | None = None) -> ReplicateToken:
    """Add a token to the pool; adding a secret that is already there returns that token.

    Without a label it is named after its id, never after any part of the secret."""
    secret = secret.strip() if isinstance(secret, str) else secret
    if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH:
        raise InvalidRequest("token", f"must be a non-empty string of at most {MAX_SECRET_LENGTH} characters")
    if not is_word(secret):
        raise InvalidRequest("token", "must not contain spaces or control characters")
    if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH):
        raise InvalidRequest("label", f"must be a string of at most {MAX_LABEL_LENGTH} characters")
    if label is not None and not is_line(label):
        # NUL is refused by PostgreSQL, escape sequences would reach operators' terminals.
        raise InvalidRequest("label", "must not contain control characters")
    try:
        async with ctx.work() as uow:
            existing = await uow.tokens.get_by_secret(secret)
            if existing is not None:
                return existing
            token_id = ctx.ids.new_id()
            token = ReplicateToken.add(token_id, label or f"token {token_id[:8]}", secret, ctx.clock.now())
            await uow.tokens.add(token)
            await uow.commit()
            return token
    except Conflict:
        # Another process (several servers starting at once) added it after our read.
        async with ctx.work() as uow:
            existing = await uow.tokens.get_by_secret(secret)
        if existing is None:
            raise
        return existing


def check_replicate_shape(secret: str, force: bool) -> None:
    """Refuse a secret that does not look like a Replicate token, unless `force`d (operators
    adding a token by hand; a typo would otherwise only show at the first prediction)."""
    if not force and not looks_like_replicate_token(secret.strip()):
        raise InvalidRequest(
            "token", f"does not look like a Replicate token ({REPLICATE_TOKEN_SHAPE}); force it to add it anyway"
        )


async def ensure_tokens(ctx: Context, secrets: Iterable[str]) -> list[ReplicateToken]:
    """Feed the pool from configuration; idempotent across restarts and processes."""
    return [await add_token(ctx, secret) for secret in secrets if secret.strip()]


async def set_token_active(ctx: Context, token_id: str, active: bool) -> ReplicateToken:
    async with ctx.work() as uow:
        token = await uow.tokens.get_for_update(token_id)
        if token is None:
            raise NotFound("token", token_id)
        now = ctx.clock.now()
        token = token.enable(now) if active else token.disable(now)
        await uow.tokens.save(token)
        await uow.commit()
        return token


async def token_stats(ctx: Context) -> TokenStats:
    async with ctx.work() as uow:
        return TokenStats.of(await uow.tokens.all())
