"""Request and response bodies: the seed's JSON shapes as msgspec Structs.

Field names are the wire names (snake_case for generations and users, camelCase for the
model catalogue and `totalPages`), so a client written against the seed works unchanged.
The `from_*` functions are the only place domain objects become JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import msgspec

from base_core import Action, Generation, GenerationPage, ModelSpec, SettingSpec, Status, UserView
from base_core.registry import SettingType
from base_core.text import LINE_PATTERN, WORD_PATTERN
from base_core.tokens import ReplicateToken, TokenStat, TokenStats
from base_core.usecases.accounts import MAX_ADJUSTMENT, MAX_REASON_LENGTH, MAX_USER_ID_LENGTH
from base_core.usecases.tokens import MAX_LABEL_LENGTH, MAX_SECRET_LENGTH


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    needed: int | None = None
    available: int | None = None
    retry_after: int | None = None
    # The setting(s) a feature needs and lacks (503 from a feature that is not configured).
    setting: str | None = None


# The catalogue


class SettingOut(msgspec.Struct, omit_defaults=True):
    name: str
    label: str
    type: SettingType
    required: bool
    default: Any = None
    min: float | None = None
    max: float | None = None
    options: list[Any] | None = None


class ModelOut(msgspec.Struct):
    id: str
    name: str
    display_name: str = msgspec.field(name="displayName")
    replicate_model: str = msgspec.field(name="replicateModel")
    # No defaults: every field is always sent, so the document marks each one required.
    action: Action
    runs: str
    description: str
    settings: list[SettingOut]
    price: int


class ModelList(msgspec.Struct):
    models: list[ModelOut]


def setting_out(spec: SettingSpec) -> SettingOut:
    return SettingOut(
        name=spec.name,
        label=spec.label,
        type=spec.type,
        required=spec.required,
        default=spec.default,
        min=spec.min,
        max=spec.max,
        options=list(spec.options) if spec.options is not None else None,
    )


def model_out(model: ModelSpec) -> ModelOut:
    return ModelOut(
        id=model.id,
        name=model.name,
        display_name=model.display_name,
        replicate_model=model.replicate_model,
        action=model.action,
        runs=model.runs,
        description=model.description,
        settings=[setting_out(s) for s in model.settings],
        price=model.price,
    )


# Generations


class CreateGenerationIn(msgspec.Struct):
    action: Action
    model_id: str
    prompt: str | None = None
    input_image_url: str | None = None
    settings: dict[str, Any] | None = None


class CreatedGeneration(msgspec.Struct):
    id: str
    prediction_id: str | None
    status: Status


class GenerationOut(msgspec.Struct):
    id: str
    user_id: str
    action: Action
    model_id: str
    model_name: str
    prompt: str | None
    input_image_url: str | None
    settings: dict[str, Any]
    status: Status
    prediction_id: str | None
    output_urls: list[str] | None
    error_message: str | None
    cost: int
    processing_time_ms: int | None
    created_at: datetime
    completed_at: datetime | None


class GenerationList(msgspec.Struct):
    generations: list[GenerationOut]
    total: int
    page: int
    limit: int
    total_pages: int = msgspec.field(name="totalPages")


class Deleted(msgspec.Struct):
    success: bool


# Builds the URLs of stored copies from their keys, for the request being answered.
KeyLinks = Callable[[tuple[str, ...]], list[str]]


def _output_urls(generation: Generation, links: KeyLinks | None) -> list[str] | None:
    if generation.output_keys and links is not None:
        return links(generation.output_keys)
    return list(generation.output_urls) if generation.output_urls is not None else None


def generation_out(generation: Generation, links: KeyLinks | None = None) -> GenerationOut:
    return GenerationOut(
        id=generation.id,
        user_id=generation.user_id,
        action=generation.action,
        model_id=generation.model_id,
        model_name=generation.model_name,
        prompt=generation.prompt,
        input_image_url=generation.input_image_url,
        settings=dict(generation.settings),
        status=generation.status,
        prediction_id=generation.prediction_id,
        output_urls=_output_urls(generation, links),
        error_message=generation.error_message,
        cost=generation.cost,
        processing_time_ms=generation.processing_time_ms,
        created_at=generation.created_at,
        completed_at=generation.completed_at,
    )


def generation_list(page: GenerationPage, links: KeyLinks | None = None) -> GenerationList:
    return GenerationList(
        generations=[generation_out(g, links) for g in page.items],
        total=page.total,
        page=page.page,
        limit=page.limit,
        total_pages=page.total_pages,
    )


# Users and sign-in


class TelegramSignInIn(msgspec.Struct):
    init_data: str = msgspec.field(name="initData")


class UserOut(msgspec.Struct):
    id: str
    telegram_username: str | None
    telegram_first_name: str | None
    email: str | None
    credits: int


class SignedIn(msgspec.Struct):
    user: UserOut
    session_token: str


class Me(msgspec.Struct):
    user: UserOut
    is_admin: bool = False  # the studio shows its admin pages to these callers


def user_out(view: UserView) -> UserOut:
    user = view.user
    return UserOut(
        id=user.id,
        telegram_username=user.telegram_username,
        telegram_first_name=user.telegram_first_name,
        email=user.email,
        credits=view.credits,
    )


# Administration


class TokenIn(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SECRET_LENGTH, pattern=WORD_PATTERN)]
    label: Annotated[str, msgspec.Meta(max_length=MAX_LABEL_LENGTH, pattern=LINE_PATTERN)] | None = None
    # Add a secret that does not look like a Replicate token (`r8_` and 37 letters or digits).
    force: bool = False


class TokenPatchIn(msgspec.Struct):
    is_active: bool


class TokenOut(msgspec.Struct):
    """A pool token as operators see it: `token` is masked, never the secret."""

    id: str
    label: str
    token: str
    is_active: bool
    request_count: int
    error_count: int
    last_used_at: datetime | None
    cooldown_until: datetime | None
    disabled_reason: str | None


class TokenStatOut(msgspec.Struct):
    id: str
    label: str
    token: str
    is_active: bool
    request_count: int
    error_count: int
    error_rate_percent: float | None
    last_used_at: datetime | None
    cooldown_until: datetime | None
    disabled_reason: str | None


class TokenTotalsOut(msgspec.Struct):
    total_tokens: int
    active_tokens: int
    total_requests: int
    total_errors: int


class TokenStatsOut(msgspec.Struct):
    tokens: list[TokenStatOut]
    totals: TokenTotalsOut


class CreditsIn(msgspec.Struct):
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_USER_ID_LENGTH, pattern=LINE_PATTERN)]
    amount: Annotated[int, msgspec.Meta(ge=-MAX_ADJUSTMENT, le=MAX_ADJUSTMENT)]
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON_LENGTH, pattern=LINE_PATTERN)] = ""


class CreditsOut(msgspec.Struct):
    user_id: str
    credits: int


def token_out(token: ReplicateToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        label=token.label,
        token=token.masked,
        is_active=token.is_active,
        request_count=token.request_count,
        error_count=token.error_count,
        last_used_at=token.last_used_at,
        cooldown_until=token.cooldown_until,
        disabled_reason=token.disabled_reason,
    )


def _stat_out(stat: TokenStat) -> TokenStatOut:
    return TokenStatOut(
        id=stat.id,
        label=stat.label,
        token=stat.masked,
        is_active=stat.is_active,
        request_count=stat.request_count,
        error_count=stat.error_count,
        error_rate_percent=stat.error_rate_percent,
        last_used_at=stat.last_used_at,
        cooldown_until=stat.cooldown_until,
        disabled_reason=stat.disabled_reason,
    )


def token_stats_out(stats: TokenStats) -> TokenStatsOut:
    totals = stats.totals
    return TokenStatsOut(
        tokens=[_stat_out(s) for s in stats.tokens],
        totals=TokenTotalsOut(
            total_tokens=totals.total_tokens,
            active_tokens=totals.active_tokens,
            total_requests=totals.total_requests,
            total_errors=totals.total_errors,
        ),
    )


# Plumbing


class WebhookAck(msgspec.Struct):
    received: bool


class Health(msgspec.Struct):
    status: str
    database: str
