"""What `base demo` adds around the service so every feature can be tried offline.

A Telegram bot token of its own (and initData signed with it, as a Mini App would send),
a sample image the demo serves itself (to edit, upscale, or cut out of its background),
the log sent to a file so the instructions stay readable, and the instructions.
Everything the demo writes lives under one folder (`./base-demo/` by default).
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import Any

from litestar import Response, get

from adapters.auth import sign_init_data

# Only the demo's own initData is signed with it; it is no real bot's token.
DEMO_BOT_TOKEN = "1000000001:demo-bot-token-of-the-local-base-demo"
DEMO_TELEGRAM_USER = {"id": 100000001, "first_name": "Demo", "username": "base_demo_user"}
# The demo's Supabase project is a shared HS256 secret (Supabase's legacy JWT secret).
DEMO_SUPABASE_SECRET = "demo-supabase-jwt-secret-of-the-local-base-demo"
DEMO_SUPABASE_USER = "5d1b7c3e-9a2f-4e6b-8c1d-0f3a2b4c6d8e"
SAMPLE_PATH = "/demo/sample.png"
LOG_NAME = "base-demo.log"


def demo_init_data(bot_token: str = DEMO_BOT_TOKEN, now: float | None = None) -> str:
    """initData for the demo's Telegram user, signed now (it is accepted for an hour)."""
    auth_date = int(time.time() if now is None else now)
    fields = {
        "user": json.dumps(DEMO_TELEGRAM_USER, separators=(",", ":")),
        "auth_date": str(auth_date),
        "query_id": "demo",
    }
    return sign_init_data(fields, bot_token)


def demo_supabase_token(secret: str = DEMO_SUPABASE_SECRET, now: float | None = None) -> str:
    """An access token like Supabase's for a demo user, signed with the demo's secret (a day)."""
    import jwt

    issued = int(time.time() if now is None else now)
    claims = {
        "sub": DEMO_SUPABASE_USER, "aud": "authenticated", "role": "authenticated",
        "email": "demo@base.local", "iat": issued, "exp": issued + 86_400,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def sample_image() -> bytes:
    """A small PNG: a plain background with a subject on it, so every action shows."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 256), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((64, 48, 192, 176), fill=(230, 120, 40))
    draw.rectangle((112, 170, 144, 230), fill=(90, 60, 30))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def sample_route() -> Any:
    """`GET /demo/sample.png`, outside the API's schema."""
    content = sample_image()

    @get(SAMPLE_PATH, include_in_schema=False, sync_to_thread=False)
    def sample() -> Response[bytes]:
        return Response(content, media_type="image/png")

    return sample


def log_to_file(folder: Path) -> Path:
    """Send every log line (requests, generation changes, warnings) to a file in `folder`."""
    path = folder / LOG_NAME
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


def write_demo_photo(path: Path) -> Path:
    """A small photo-like PNG for the demo's upload line (made once, kept)."""
    if not path.exists():
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (320, 240), (90, 150, 220))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 170, 320, 240), fill=(60, 140, 70))
        draw.ellipse((220, 30, 280, 90), fill=(250, 220, 90))
        image.save(path, "PNG")
    return path


def upload_lines(auth: str, photo: Path) -> list[str]:
    """Upload a photo, then upscale it: `<url>` is the `url` the upload answers with."""
    upscale = '{"action": "upscale", "model_id": "real-esrgan", "input_image_url": "<url>", "settings": {"scale": 2}}'
    return [
        f'curl -s -X POST "$BASE/api/uploads" {auth} -H "Content-Type: image/png" --data-binary @{photo}',
        f"curl -s -X POST \"$BASE/api/generations/create\" {auth} -H \"Content-Type: application/json\" -d '{upscale}'",
    ]


def instructions(
    base_url: str, token: str, user_id: str, init_data: str, log: Path | None, seed_body: str,
    supabase_token: str, photo: Path | None = None,
) -> str:
    auth = '-H "Authorization: Bearer $TOKEN"'
    json_body = '-H "Content-Type: application/json"'
    create = f'curl -s -X POST "$BASE/api/generations/create" {auth} {json_body} -d'
    sample = f"{base_url}{SAMPLE_PATH}"
    lines = [
        f"Studio: {base_url}/   (open it in a browser; signed in as the demo user)",
        f".base demo is running on {base_url} (Replicate simulator, SQLite). Ctrl-C stops it.",
        f"Demo user {user_id} (an administrator); paste these lines into a shell:",
        "",
        f"export BASE={base_url}",
        f"export TOKEN={token}",
        'curl -s "$BASE/api/models/list"',
        f"{create} '{seed_body}'",
        f'curl -s "$BASE/api/generations/<id>" {auth}',
        f'curl -s "$BASE/api/generations/list" {auth}',
        f'curl -s -X DELETE "$BASE/api/generations/<id>" {auth}',
        "",
        f"Edit, upscale, remove the background of the demo's sample image ({sample}):",
        f'{create} \'{{"action": "edit", "model_id": "nano-banana-edit", '
        f'"prompt": "Make it a watercolor painting", "input_image_url": "{sample}"}}\'',
        f'{create} \'{{"action": "upscale", "model_id": "real-esrgan", '
        f'"input_image_url": "{sample}", "settings": {{"scale": 4}}}}\'',
        f'{create} \'{{"action": "remove_bg", "model_id": "birefnet", "input_image_url": "{sample}"}}\'',
        "",
        *(["Your own photo: upload it, then upscale it (<url>: the upload's url):", *upload_lines(auth, photo), ""]
          if photo is not None else []),
        "Sign in with Telegram (this initData is signed with the demo's bot token, valid for an hour):",
        f'curl -s -X POST "$BASE/api/auth/telegram" {json_body} -d \'{{"initData": "{init_data}"}}\'',
        "",
        "Sign in with Supabase (a token signed with the demo project's JWT secret):",
        f"export SUPABASE_TOKEN={supabase_token}",
        'curl -s "$BASE/api/me" -H "Authorization: Bearer $SUPABASE_TOKEN"',
        "",
        "Administration (the demo user is an admin):",
        f'curl -s "$BASE/api/admin/tokens/stats" {auth}',
        f'curl -s -X POST "$BASE/api/admin/credits" {auth} {json_body} '
        f"-d '{{\"user_id\": \"{user_id}\", \"amount\": 50, \"reason\": \"demo\"}}'",
        "",
    ]
    if log is not None:
        lines.append(f"Requests and events are logged to {log} (--verbose shows them here).")
    lines += [
        f"OpenAPI: {base_url}/schema/openapi.json   Swagger UI: {base_url}/schema/swagger",
        "",
    ]
    return "\n".join(lines)


__all__ = [
    "DEMO_BOT_TOKEN",
    "DEMO_SUPABASE_SECRET",
    "SAMPLE_PATH",
    "demo_init_data",
    "demo_supabase_token",
    "instructions",
    "log_to_file",
    "sample_image",
    "sample_route",
    "upload_lines",
    "write_demo_photo",
]
