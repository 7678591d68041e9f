"""An upload of a 2 MiB JPEG into the S3-compatible store (moto's server), three ways.

`base serve` with BASE_OUTPUT_STORE on the bucket, the minimal handler
(bench/minimal_uploads.py) on the same bucket, each on its own copy of the same seeded
database, in alternating rounds, 4 uploads at once; and the store's own raw put of the
cleaned image from this process, 4 at once: the limit both approach. The bucket is emptied after every measurement (moto keeps objects in memory).
"""

from __future__ import annotations

import asyncio
import io
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter

from bench import objects, seed
from bench import requests as rq
from bench.minimal_uploads import cleaned
from bench.overhead import Comparison, Sizes, best, checked
from bench.servers import SESSION_SECRET, Load, Server, base_serve, drive, minimal_app, simulator

UPLOAD_TARGET = 0.70
SIZE = 2 * 1024 * 1024
WIDTH, HEIGHT = 2048, 1536
USERS = 4  # distinct callers; each request carries the whole image, so few are prepared
CONNECTIONS = 4  # uploads at once: each takes tens of milliseconds of CPU


def photo(size: int = SIZE) -> bytes:
    """A JPEG of about `size` bytes (a photo's detail: blurred noise over a gradient),
    with the EXIF a camera writes, GPS position included."""
    rnd = random.Random(2)
    noise = Image.frombytes("RGB", (WIDTH, HEIGHT), rnd.randbytes(WIDTH * HEIGHT * 3))
    picture = Image.blend(noise.filter(ImageFilter.GaussianBlur(0.5)),
                          Image.linear_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB"), 0.5)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "BenchCam", "B-1", 1
    exif[0x8825] = {1: "N", 2: (55.0, 45.0, 0.0), 3: "E", 4: (37.0, 37.0, 0.0)}
    best_fit = b""
    for quality in range(80, 99):
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=quality, exif=exif.tobytes())
        if not best_fit or abs(out.tell() - size) < abs(len(best_fit) - size):
            best_fit = out.getvalue()
    return best_fit


def _requests(content: bytes) -> list[bytes]:
    callers = rq.Callers(SESSION_SECRET, USERS)
    return [rq.raw("POST", "/api/uploads", {**callers.auth(n), "Content-Type": "image/jpeg"}, content)
            for n in range(USERS)]


def _drive(server: Server, requests: list[bytes], load: Load, bucket: objects.Bucket) -> dict[str, Any]:
    try:
        return checked(drive(server, requests, load), f"{server.name} upload")
    finally:
        bucket.empty()


def run(database: str, sizes: Sizes, workdir: Path) -> list[Comparison]:
    plan = seed.Plan(users=USERS, history=0, history_users=1)
    urls = {}
    for side in ("base", "minimal"):
        urls[side] = asyncio.run(seed.fresh_database(database, f"bench_upload_{side}_{database}", workdir))
        asyncio.run(seed.load(urls[side], plan))
    content = photo()
    requests = _requests(content)
    stored, _, _ = cleaned(content)
    load = Load(sizes.load.seconds, sizes.load.warmup, CONNECTIONS)
    ours, theirs, puts = [], [], []
    with objects.moto(workdir) as bucket, simulator(workdir) as sim, \
            base_serve(urls["base"], sim.url, plan.tokens, workdir, **bucket.base_env()) as base, \
            minimal_app(urls["minimal"], sim.url, plan.tokens, workdir, **bucket.minimal_env()) as minimal:
        for _ in range(sizes.rounds):
            theirs.append(_drive(minimal, requests, load, bucket))
            ours.append(_drive(base, requests, load, bucket))
            puts.append(objects.raw_puts(bucket, stored, load.seconds, load.warmup, CONNECTIONS))
            bucket.empty()
    name = f"upload of a {len(content) / 2**20:.1f} MiB JPEG"
    limit = "the store's raw put"
    return [
        Comparison(database, name, best(ours), best(theirs), "minimal", UPLOAD_TARGET),
        Comparison(database, name, best(theirs), best(puts), limit, None, side="minimal"),
        Comparison(database, name, best(ours), best(puts), limit, None),
    ]
