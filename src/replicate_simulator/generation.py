"""What each model does with its input: produce the bytes of its output files."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from urllib.parse import unquote_to_bytes

import attrs
import httpx
from PIL import Image

from replicate_simulator import images
from replicate_simulator.models import ModelSpec

Fetch = Callable[[str], Awaitable[bytes]]


@attrs.frozen
class OutputFile:
    data: bytes
    extension: str


class GenerationFailed(Exception):
    """The model could not run on this input; the message becomes the prediction's error."""


@attrs.frozen
class Limits:
    long_side: int = 256
    max_upscale_side: int = 4096


async def generate(
    model: ModelSpec, params: dict[str, object], fetch: Fetch, limits: Limits
) -> list[OutputFile]:
    if model.task == "text_to_image":
        return await asyncio.to_thread(_text_to_image, params, limits)
    if model.task == "image_edit":
        sources = [images_from(await _fetch(fetch, url)) for url in _strings(params.get("image_input"))]
        return [await asyncio.to_thread(_image_edit, params, sources, limits)]
    source = images_from(await _fetch(fetch, str(params["image"])))
    if model.task == "upscale":
        return [await asyncio.to_thread(_upscale, params, source, limits)]
    return [await asyncio.to_thread(_remove_background, source)]


def images_from(data: bytes) -> Image.Image:
    try:
        return images.decode(data)
    except images.ImageUnreadable as error:
        raise GenerationFailed(f"cannot identify image file: {error}") from error


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


async def _fetch(fetch: Fetch, url: str) -> bytes:
    if url.startswith("data:"):
        return _decode_data_uri(url)
    try:
        return await fetch(url)
    except httpx.HTTPStatusError as error:
        raise GenerationFailed(
            f"Failed to download {url}: HTTP {error.response.status_code}"
        ) from error
    except httpx.HTTPError as error:
        raise GenerationFailed(f"Failed to download {url}: {error!r}") from error


def _decode_data_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=True)
        return unquote_to_bytes(payload)
    except ValueError as error:
        raise GenerationFailed(f"Invalid data URI: {error}") from error


def _text_to_image(params: dict[str, object], limits: Limits) -> list[OutputFile]:
    long_side = limits.long_side if params["megapixels"] == "1" else max(1, limits.long_side // 2)
    size = images.size_for_aspect_ratio(str(params["aspect_ratio"]), long_side)
    output_format = str(params["output_format"])
    seed = params.get("seed")
    outputs = []
    for index in range(int(params["num_outputs"])):  # type: ignore[call-overload]
        picture = images.draw_from_prompt(
            f"{params['prompt']}#{index}", seed if isinstance(seed, int) else None, size
        )
        data = images.encode(picture, output_format, int(params["output_quality"]))  # type: ignore[call-overload]
        outputs.append(OutputFile(data, output_format))
    return outputs


def _image_edit(
    params: dict[str, object], sources: list[Image.Image], limits: Limits
) -> OutputFile:
    first = sources[0] if sources else None
    aspect_ratio = str(params["aspect_ratio"])
    if aspect_ratio == "match_input_image":
        if first is None:
            size = (limits.long_side, limits.long_side)
        else:
            width, height = first.size
            scale = limits.long_side / max(width, height)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
    else:
        size = images.size_for_aspect_ratio(aspect_ratio, limits.long_side)
    picture = images.edit(str(params["prompt"]), first, size)
    output_format = str(params["output_format"])
    return OutputFile(images.encode(picture, output_format), output_format)


def _upscale(params: dict[str, object], source: Image.Image, limits: Limits) -> OutputFile:
    scale = float(params["scale"])  # type: ignore[arg-type]
    if scale <= 0:
        raise GenerationFailed("scale must be greater than 0")
    enlarged = images.upscale(source, scale, limits.max_upscale_side)
    return OutputFile(images.encode(enlarged, "png"), "png")


def _remove_background(source: Image.Image) -> OutputFile:
    return OutputFile(images.encode(images.cut_out_background(source), "png"), "png")
