"""Sign-in, the caller's account, and the operators' pages (tokens, credits)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, HeaderParameter, JSONBody

from base_core import TelegramProfile
from base_core.usecases.tokens import check_replicate_shape
from entrypoints.features import TELEGRAM
from entrypoints.http.dependencies import (
    CALLER,
    SECURITY,
    CallerDep,
    ServicesDep,
    StudioDep,
    admins_only,
    exactly,
    path_id,
)
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import (
    CreditsIn,
    CreditsOut,
    Me,
    SignedIn,
    TelegramSignInIn,
    TokenIn,
    TokenOut,
    TokenPatchIn,
    TokenStatsOut,
    token_out,
    token_stats_out,
    user_out,
)


class AuthController(Controller):
    path = "/api"
    tags = ["users"]

    @post(
        "/auth/telegram",
        status_code=200,
        summary="Sign in with Telegram Mini App initData",
        description="Answers a session token to send as `Authorization: Bearer <token>`.",
        responses=problem_responses(
            400, 401, 413, 503,
            described={
                401: "The initData does not verify: bad signature, too old, or malformed",
                503: "Telegram sign-in is not configured (`setting` names BASE_TELEGRAM_BOT_TOKEN), "
                "or the database is unavailable",
            },
        ),
    )
    async def telegram(
        self, data: JSONBody[TelegramSignInIn], request: Request[Any, Any, Any], services: ServicesDep
    ) -> SignedIn:
        data = await exactly(request, data)
        if services.telegram is None:
            raise TELEGRAM.not_configured()
        user = services.telegram.verify(data.init_data)
        view = await services.studio.sign_in_telegram(
            TelegramProfile(telegram_id=user.id, username=user.username, first_name=user.first_name)
        )
        return SignedIn(user=user_out(view), session_token=services.sessions.issue(view.user.id))

    @get(
        "/me",
        summary="The caller with their credit balance",
        dependencies=CALLER,
        security=SECURITY,
        responses=problem_responses(401, 503),
    )
    async def me(self, caller: CallerDep, studio: StudioDep) -> Me:
        view = await studio.user(caller.user_id)
        return Me(user=user_out(view), is_admin=studio.is_admin(caller.user_id))


class AdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [admins_only]
    security = SECURITY

    @get(
        "/tokens/stats",
        summary="Usage and health of every Replicate token (secrets masked)",
        responses=problem_responses(401, 403, 503),
    )
    async def token_stats(self, studio: StudioDep) -> TokenStatsOut:
        return token_stats_out(await studio.token_stats())

    @post(
        "/tokens",
        status_code=201,
        summary="Add a Replicate token to the pool (adding one twice is harmless)",
        description="A token that does not look like Replicate's (`r8_` and 37 letters or "
        "digits) is refused with a 400 unless `force` is true.",
        responses=problem_responses(400, 401, 403, 413, 503),
    )
    async def add_token(self, data: JSONBody[TokenIn], request: Request[Any, Any, Any], studio: StudioDep) -> TokenOut:
        data = await exactly(request, data)
        check_replicate_shape(data.token, data.force)
        return token_out(await studio.add_token(data.token, data.label))

    @patch(
        "/tokens/{token_id:str}",
        summary="Activate or deactivate a token",
        responses=problem_responses(400, 401, 403, 404, 503),
    )
    async def set_active(
        self, token_id: FromPath[str], data: JSONBody[TokenPatchIn], request: Request[Any, Any, Any],
        studio: StudioDep,
    ) -> TokenOut:
        data = await exactly(request, data)
        return token_out(await studio.set_token_active(path_id("token", token_id), data.is_active))

    @post(
        "/credits",
        status_code=200,
        summary="Grant (amount > 0) or deduct (amount < 0) a user's credits",
        description="Deductions never take a balance below zero. With an `Idempotency-Key` "
        "header a retried request is applied once.",
        responses=problem_responses(400, 401, 402, 403, 404, 409, 503),
    )
    async def credits(
        self,
        data: JSONBody[CreditsIn],
        request: Request[Any, Any, Any],
        studio: StudioDep,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", required=False, max_length=200)
        ] = None,
    ) -> CreditsOut:
        data = await exactly(request, data)
        key = f"admin:{idempotency_key}" if idempotency_key else None
        balance = await studio.adjust_credits(data.user_id, data.amount, data.reason, key)
        return CreditsOut(user_id=data.user_id, credits=balance)
