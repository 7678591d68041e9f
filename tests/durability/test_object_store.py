"""Several hosts on one bucket: real `base serve` processes, one PostgreSQL database, an
S3 bucket served by moto on loopback.

- an image created through process A is served by process B (different working
  directories: nothing is read from a local disk), ranges and revalidation included;
- a deleted generation's objects are gone from the bucket;
- the bucket unreachable while a generation completes: it completes, the copy is retried,
  and once the bucket is back nothing is lost.
"""

from __future__ import annotations

import asyncio
import io
import os
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from durability_helpers import BASE, INITIAL, Service, client, free_port, service_env, wait_for
from PIL import Image
from sqlalchemy.ext.asyncio import create_async_engine

from s3_support import require_moto, running_moto

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def postgres_server() -> str:
    url = os.environ.get("BASE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BASE_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    return url


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def database_url() -> Iterator[str]:
    server = postgres_server()
    name = f"objects_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate(env: dict[str, str]) -> None:
    import subprocess

    done = subprocess.run([str(BASE), "migrate"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def get(url: str, **headers: str) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def upload_png(service: Service, token: str) -> dict:
    image = Image.new("RGB", (40, 30), (10, 200, 30))
    out = io.BytesIO()
    image.save(out, "PNG")
    request = urllib.request.Request(
        f"{service.url}/api/uploads", data=out.getvalue(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        import json

        return json.loads(response.read())


def test_an_image_made_through_one_host_is_served_by_another_and_deleted_from_the_bucket(
    simulator, sessions, database_url, s3_server, tmp_path: Path
):
    bucket = s3_server.new_bucket()
    env = service_env(simulator, database_url, **s3_server.env(bucket, "studio"))
    migrate(env)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Service(env, tmp_path / "a", free_port()).start()
    b = Service(env, tmp_path / "b", free_port()).start()
    try:
        user_id = str(uuid.uuid4())
        via_a, via_b = client(a, sessions, user_id), client(b, sessions, user_id)
        status, created = via_a.create()
        assert status == 201, created

        def copied() -> dict | None:
            g = via_a.get(created["id"])
            return g if g["status"] == "completed" and all("/outputs/" in u for u in g["output_urls"] or []) else None

        generation = wait_for(copied, 60, "the output to be copied into the bucket")
        [url_a] = generation["output_urls"]
        assert url_a.startswith(a.url + "/outputs/")  # built for the host that answered
        [url_b] = via_b.get(created["id"])["output_urls"]
        assert url_b.startswith(b.url + "/outputs/") and url_a.split("/outputs/")[1] == url_b.split("/outputs/")[1]
        key = url_b.split("/outputs/", 1)[1]
        assert s3_server.keys(bucket, "studio/") == [f"studio/{key}"]

        status, headers, content = get(url_b)
        assert status == 200 and content[:4] == b"RIFF" and headers["Content-Type"].startswith("image/webp")
        assert "immutable" in headers["Cache-Control"] and headers["ETag"]
        assert get(url_b, **{"If-None-Match": headers["ETag"]})[0] == 304
        status, ranged, part = get(url_b, Range="bytes=0-3")
        assert status == 206 and part == b"RIFF" and ranged["Content-Range"] == f"bytes 0-3/{len(content)}"
        assert not any((tmp_path / d / "outputs").exists() for d in ("a", "b"))  # nothing on disk

        upload = upload_png(a, via_a.token)
        served = get(b.url + "/outputs/" + upload["url"].split("/outputs/", 1)[1])
        assert served[0] == 200 and Image.open(io.BytesIO(served[2])).size == (40, 30)

        import json

        request = urllib.request.Request(
            f"{b.url}/api/generations/{created['id']}", method="DELETE",
            headers={"Authorization": f"Bearer {via_b.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == {"success": True}
        assert f"studio/{key}" not in s3_server.keys(bucket, "studio/")
        assert get(url_a)[0] == 404
    finally:
        assert a.stop() == 0, a.logs()
        assert b.stop() == 0, b.logs()


def test_the_bucket_down_while_a_generation_completes_loses_nothing(
    simulator, sessions, database_url, tmp_path: Path
):
    require_moto()
    port = free_port()
    with running_moto(port) as first:
        bucket = first.new_bucket()
        env = service_env(simulator, database_url, **first.env(bucket, "p"))
    # The bucket is gone (the server stopped) before anything is created.
    migrate(env)
    service = Service(env, tmp_path, free_port()).start()
    try:
        user = client(service, sessions, str(uuid.uuid4()))
        status, created = user.create()
        assert status == 201, created
        done = wait_for(
            lambda: (g := user.get(created["id"]))["status"] == "completed" and g, 60, "the generation to complete",
        )
        assert done["output_urls"] and "/outputs/" not in done["output_urls"][0]  # Replicate's, meanwhile
        assert user.credits() == INITIAL - 1  # charged: it completed
        with running_moto(port) as back:
            back.client().create_bucket(Bucket=bucket)

            def kept() -> dict | None:
                g = user.get(created["id"])
                return g if all("/outputs/" in u for u in g["output_urls"]) else None

            generation = wait_for(kept, 60, "the reconciler to copy the output once the bucket is back")
            key = generation["output_urls"][0].split("/outputs/", 1)[1]
            assert back.keys(bucket, "p/") == [f"p/{key}"]
            status, _, content = get(generation["output_urls"][0])
            assert status == 200 and content[:4] == b"RIFF"
    finally:
        assert service.stop() == 0, service.logs()
