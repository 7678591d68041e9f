"""The output files are real images of the right format, size and mode."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from sim_helpers import (
    BIREFNET,
    ESRGAN,
    auth,
    create_flux,
    decode,
    fast_config,
    png_bytes,
    wait_until_done,
)

from replicate_simulator import Simulator

FORMATS = {"webp": "WEBP", "jpg": "JPEG", "png": "PNG"}


async def _run(http: httpx.AsyncClient, path: str, body: dict[str, object]) -> dict[str, object]:
    response = await http.post(path, json=body, headers=auth())
    assert response.status_code == 201, response.text
    return await wait_until_done(http, response.json()["id"])


async def _image_at(http: httpx.AsyncClient, url: object):  # type: ignore[no-untyped-def]
    assert isinstance(url, str)
    response = await http.get(url)
    assert response.status_code == 200
    return decode(response.content), response.headers["content-type"]


@pytest.fixture
async def image_server() -> AsyncIterator[str]:
    """A loopback server, separate from the simulator, serving one PNG at any path but /missing."""
    picture = png_bytes((64, 48))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        if b"/missing" in request_line:
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\nconnection: close\r\n"
                + f"content-length: {len(picture)}\r\n\r\n".encode()
                + picture
            )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize(
    ("aspect_ratio", "size"),
    [("1:1", (256, 256)), ("16:9", (256, 144)), ("9:16", (144, 256)), ("21:9", (256, 110))],
)
async def test_flux_sizes_follow_the_aspect_ratio(
    http: httpx.AsyncClient, aspect_ratio: str, size: tuple[int, int]
) -> None:
    done = await create_flux(http, input={"prompt": "x", "aspect_ratio": aspect_ratio})
    done = await wait_until_done(http, done["id"])
    image, _ = await _image_at(http, done["output"][0])
    assert image.size == size


@pytest.mark.parametrize("output_format", ["webp", "jpg", "png"])
async def test_flux_formats_and_outputs(http: httpx.AsyncClient, output_format: str) -> None:
    created = await create_flux(
        http, input={"prompt": "x", "output_format": output_format, "num_outputs": 3, "seed": 7}
    )
    done = await wait_until_done(http, created["id"])
    assert len(done["output"]) == 3
    assert all(url.endswith(f".{output_format}") for url in done["output"])
    contents = set()
    for url in done["output"]:
        image, content_type = await _image_at(http, url)
        assert image.format == FORMATS[output_format]
        assert content_type.startswith("image/")
        contents.add(image.tobytes())
    assert len(contents) == 3


async def test_flux_quarter_megapixel_is_smaller(http: httpx.AsyncClient) -> None:
    created = await create_flux(http, input={"prompt": "x", "megapixels": "0.25"})
    done = await wait_until_done(http, created["id"])
    image, _ = await _image_at(http, done["output"][0])
    assert image.size == (128, 128)


async def test_same_seed_same_picture(http: httpx.AsyncClient) -> None:
    pictures = []
    for _ in range(2):
        created = await create_flux(http, input={"prompt": "x", "seed": 3, "output_format": "png"})
        done = await wait_until_done(http, created["id"])
        pictures.append((await http.get(done["output"][0])).content)
    assert pictures[0] == pictures[1]


async def test_upscale_really_enlarges(sim: Simulator, http: httpx.AsyncClient) -> None:
    source = sim.upload(png_bytes((40, 30)))
    done = await _run(http, "/v1/predictions", {"version": ESRGAN, "input": {"image": source, "scale": 2.5}})
    assert done["status"] == "succeeded"
    image, content_type = await _image_at(http, done["output"])
    assert content_type == "image/png"
    assert image.format == "PNG"
    assert image.size == (100, 75)


async def test_upscale_default_scale_is_four(sim: Simulator, http: httpx.AsyncClient) -> None:
    done = await _run(
        http, "/v1/predictions", {"version": ESRGAN, "input": {"image": sim.upload(png_bytes((20, 10)))}}
    )
    image, _ = await _image_at(http, done["output"])
    assert image.size == (80, 40)


async def test_upscale_is_capped() -> None:
    async with Simulator(fast_config(max_upscale_side=300)).running() as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            done = await _run(
                http,
                "/v1/predictions",
                {"version": ESRGAN, "input": {"image": sim.upload(png_bytes((100, 50))), "scale": 10}},
            )
            image, _ = await _image_at(http, done["output"])
    assert image.size == (300, 150)


async def test_chain_generate_upscale_cut_out(http: httpx.AsyncClient) -> None:
    created = await create_flux(http, input={"prompt": "x", "aspect_ratio": "3:2"})
    generated = await wait_until_done(http, created["id"])
    upscaled = await _run(
        http, "/v1/predictions",
        {"version": f"nightmareai/real-esrgan:{ESRGAN}", "input": {"image": generated["output"][0], "scale": 2}},
    )
    big, _ = await _image_at(http, upscaled["output"])
    assert big.size == (512, 342)
    cut = await _run(
        http, "/v1/predictions", {"version": BIREFNET, "input": {"image": upscaled["output"]}}
    )
    image, _ = await _image_at(http, cut["output"])
    assert (image.mode, image.size) == ("RGBA", (512, 342))


async def test_birefnet_makes_the_background_transparent(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    source = sim.upload(png_bytes((80, 60)))
    done = await _run(http, "/v1/predictions", {"version": BIREFNET, "input": {"image": source}})
    image, content_type = await _image_at(http, done["output"])
    assert content_type == "image/png"
    assert image.mode == "RGBA" and image.size == (80, 60)
    assert image.getpixel((1, 1))[3] == 0
    assert image.getpixel((40, 30))[3] == 255


async def test_input_from_another_loopback_server(http: httpx.AsyncClient, image_server: str) -> None:
    done = await _run(
        http, "/v1/predictions", {"version": ESRGAN, "input": {"image": f"{image_server}/cat.png", "scale": 2}}
    )
    image, _ = await _image_at(http, done["output"])
    assert image.size == (128, 96)


async def test_input_as_data_uri(http: httpx.AsyncClient) -> None:
    uri = "data:image/png;base64," + base64.b64encode(png_bytes((10, 10))).decode()
    done = await _run(http, "/v1/predictions", {"version": ESRGAN, "input": {"image": uri, "scale": 3}})
    image, _ = await _image_at(http, done["output"])
    assert image.size == (30, 30)


async def test_unfetchable_input_fails_the_prediction(
    sim: Simulator, http: httpx.AsyncClient, image_server: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    for url in (
        f"{image_server}/missing.png",
        f"http://127.0.0.1:{closed_port}/x.png",
        f"{sim.base_url}/files/nothing/here.png",
    ):
        done = await _run(http, "/v1/predictions", {"version": ESRGAN, "input": {"image": url}})
        assert done["status"] == "failed"
        assert done["output"] is None
        assert url in done["error"]


async def test_input_that_is_not_an_image_fails(sim: Simulator, http: httpx.AsyncClient) -> None:
    source = sim.upload(b"plain text", "txt")
    done = await _run(http, "/v1/predictions", {"version": BIREFNET, "input": {"image": source}})
    assert done["status"] == "failed"
    assert "cannot identify image" in done["error"]


async def test_nano_banana_matches_the_input_image(sim: Simulator, http: httpx.AsyncClient) -> None:
    source = sim.upload(png_bytes((300, 150)))
    done = await _run(
        http,
        "/v1/models/google/nano-banana/predictions",
        {"input": {"prompt": "make it blue", "image_input": [source], "output_format": "png"}},
    )
    image, _ = await _image_at(http, done["output"])
    assert image.format == "PNG"
    assert image.size == (256, 128)


async def test_nano_banana_explicit_aspect_ratio(http: httpx.AsyncClient) -> None:
    done = await _run(
        http,
        "/v1/models/google/nano-banana/predictions",
        {"input": {"prompt": "x", "aspect_ratio": "3:4"}},
    )
    image, _ = await _image_at(http, done["output"])
    assert image.format == "JPEG" and image.size == (192, 256)


async def test_unknown_file_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/files/none/out-0.png")
    assert response.status_code == 404
