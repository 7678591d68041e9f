"""Generations: create, read, list, delete; each handler calls one Studio method."""

from __future__ import annotations

from typing import Annotated, Any, cast

from litestar import Controller, Request, Response, delete, get, post
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from base_core import Action, GenerationQuery, GenerationRequest, Identity, Status, Studio
from base_core.generation import DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE
from base_core.usecases.generations import MAX_IDEMPOTENCY_KEY
from entrypoints.http.dependencies import (
    CALLER,
    SECURITY,
    CallerDep,
    StudioDep,
    exactly,
    path_id,
    provide_key_links,
    provide_services,
    verified_caller,
)
from entrypoints.http.live import links_base, read_generation
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import (
    CreatedGeneration,
    CreateGenerationIn,
    Deleted,
    GenerationList,
    GenerationOut,
    generation_list,
)


async def _caller_and_studio(request: Request[Any, Any, Any]) -> tuple[Identity, Studio]:
    """What the hot routes (create, list, read) need, resolved in line: Litestar resolves a
    handler's independent dependencies (the caller, the services) in an anyio task group
    of their own on every request, a cost these routes need not pay."""
    caller = await verified_caller(request)
    return caller, provide_services(request.app.state).studio


class GenerationController(Controller):
    path = "/api/generations"
    tags = ["generations"]
    dependencies = CALLER
    security = SECURITY

    @post(
        "/create",
        status_code=201,
        summary="Start a generation",
        description="Validated against the model's settings; holds `price × num_outputs` "
        "credits until the generation ends. An `Idempotency-Key` header makes retries safe.",
        responses=problem_responses(
            400, 401, 402, 409, 413, 422, 429, 503,
            described={503: "No Replicate token can take the work now (see Retry-After), "
                       "or the database is unavailable"},
        ),
    )
    async def create(
        self,
        data: JSONBody[CreateGenerationIn],
        request: Request[Any, Any, Any],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", required=False, min_length=1, max_length=MAX_IDEMPOTENCY_KEY)
        ] = None,
    ) -> CreatedGeneration:
        caller, studio = await _caller_and_studio(request)
        data = await exactly(request, data)
        asked = GenerationRequest(
            action=data.action,
            model_id=data.model_id,
            prompt=data.prompt,
            input_image_url=data.input_image_url,
            settings=data.settings or {},
        )
        generation = await studio.create_generation(caller.user_id, asked, idempotency_key)
        return CreatedGeneration(
            id=generation.id, prediction_id=generation.prediction_id, status=generation.status
        )

    @get(
        "/list",
        summary="The caller's generations, newest first",
        responses=problem_responses(400, 401, 503),
    )
    async def list_generations(
        self,
        request: Request[Any, Any, Any],
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="1-based page")] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
        action: FromQuery[Action | None] = None,
        status: FromQuery[Status | None] = None,
    ) -> GenerationList:
        caller, studio = await _caller_and_studio(request)
        query = GenerationQuery(caller.user_id, page, limit, action, status)
        key_links = provide_key_links(request, provide_services(request.app.state))
        return generation_list(await studio.generations(query), key_links)

    @get(
        "/{generation_id:str}",
        summary="One of the caller's generations",
        responses=problem_responses(400, 401, 404, 503),
    )
    async def read(self, generation_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[GenerationOut]:
        services = provide_services(request.app.state)
        caller = await verified_caller(request)
        # Resolved in line, as _caller_and_studio says. From the live feed's cache when it
        # can be trusted (entrypoints/http/live.py); a cached body is reused for the same
        # public base only, never for signed URLs.
        body = await read_generation(
            services,
            caller.user_id,
            path_id("generation", generation_id),
            provide_key_links(request, services),
            links_base(services, request),
        )
        return cast("Response[GenerationOut]", Response(body, media_type=MediaType.JSON))

    @delete(
        "/{generation_id:str}",
        status_code=200,
        summary="Cancel (refunding its hold) and delete a generation",
        responses=problem_responses(
            400, 401, 404, 503,
            described={503: "Replicate could not cancel it now, or the database is unavailable"},
        ),
    )
    async def remove(self, generation_id: FromPath[str], caller: CallerDep, studio: StudioDep) -> Deleted:
        await studio.delete_generation(caller.user_id, path_id("generation", generation_id))
        return Deleted(success=True)
