"""Small, real images: drawn from a prompt, enlarged, or cut out of their background."""

from __future__ import annotations

import hashlib
import io
import random

from PIL import Image, ImageChops, ImageDraw, ImageOps

CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
_PIL_FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}

# How close to the background colour a pixel must be to become transparent.
_BACKGROUND_TOLERANCE = 40


class ImageUnreadable(Exception):
    """Bytes that Pillow cannot decode as an image."""


def size_for_aspect_ratio(aspect_ratio: str, long_side: int) -> tuple[int, int]:
    width_part, _, height_part = aspect_ratio.partition(":")
    width, height = int(width_part), int(height_part)
    if width >= height:
        return long_side, max(1, round(long_side * height / width))
    return max(1, round(long_side * width / height)), long_side


def draw_from_prompt(prompt: str, seed: int | None, size: tuple[int, int]) -> Image.Image:
    """A deterministic picture for a prompt and seed: a gradient with a few shapes."""
    digest = hashlib.sha256(f"{prompt}\x00{seed}".encode()).digest()
    rng = random.Random(digest)
    dark = tuple(rng.randrange(0, 128) for _ in range(3))
    light = tuple(rng.randrange(128, 256) for _ in range(3))
    gradient = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270)))
    image = ImageOps.colorize(gradient.resize(size), dark, light).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(3):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(max(2, min(size) // 10), max(3, min(size) // 3))
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return image


def decode(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as error:  # Pillow raises many unrelated types for bad bytes
        raise ImageUnreadable(str(error)) from error
    return image


def extension_of(image: Image.Image) -> str:
    return _EXTENSIONS.get(image.format or "", "png")


def encode(image: Image.Image, output_format: str, quality: int = 80) -> bytes:
    pil_format = _PIL_FORMATS[output_format]
    if pil_format == "JPEG" and image.mode != "RGB":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    if pil_format == "PNG":
        image.save(buffer, pil_format)
    else:
        image.save(buffer, pil_format, quality=quality)
    return buffer.getvalue()


def edit(prompt: str, source: Image.Image | None, size: tuple[int, int]) -> Image.Image:
    """Blend the source image with a picture drawn from the prompt."""
    drawn = draw_from_prompt(prompt, None, size)
    if source is None:
        return drawn
    base = source.convert("RGB").resize(size)
    return Image.blend(base, drawn, 0.35)


def upscale(image: Image.Image, scale: float, max_side: int) -> Image.Image:
    width, height = image.size
    factor = min(scale, max_side / max(width, height))
    target = (max(1, round(width * factor)), max(1, round(height * factor)))
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return image.resize(target, Image.Resampling.LANCZOS)


def cut_out_background(image: Image.Image) -> Image.Image:
    """RGBA copy where pixels close to the border's average colour become transparent."""
    rgb = image.convert("RGB")
    background = _border_colour(rgb)
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, background))
    alpha = difference.convert("L").point(lambda v: 0 if v < _BACKGROUND_TOLERANCE else 255)
    cut = rgb.convert("RGBA")
    cut.putalpha(alpha)
    return cut


def _border_colour(image: Image.Image) -> tuple[int, int, int]:
    width, height = image.size
    points = [(x, 0) for x in range(width)] + [(x, height - 1) for x in range(width)]
    points += [(0, y) for y in range(height)] + [(width - 1, y) for y in range(height)]
    step = max(1, len(points) // 400)
    samples = [image.getpixel(p) for p in points[::step]]
    channels = zip(*samples)
    red, green, blue = (sorted(c)[len(samples) // 2] for c in channels)
    return int(red), int(green), int(blue)
