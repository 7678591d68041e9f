"""`base outputs migrate --to s3://...`: every local object into the bucket under its key,
with its content type; run again, it copies only what is missing (resumable)."""

from __future__ import annotations

import asyncio
import os

import pytest

from adapters.storage import ObjectOutputStore
from entrypoints.cli import main

KEYS = [
    "gen-a/0-" + "1" * 32 + ".png",
    "gen-a/1-" + "2" * 32 + ".webp",
    "gen-b/0-" + "3" * 32 + ".jpg",
    "uploads/" + "4" * 32 + ".png",
]


@pytest.fixture
def env(tmp_path, monkeypatch, s3_server):
    for name in list(os.environ):
        if name.startswith("BASE_"):
            monkeypatch.delenv(name)
    bucket = s3_server.new_bucket()
    for name, value in s3_server.env(bucket, "moved").items():
        if name != "BASE_OUTPUT_STORE":
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("BASE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("BASE_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.chdir(tmp_path)
    return tmp_path, bucket


def seed(directory) -> None:
    async def put() -> None:
        store = ObjectOutputStore.local(directory)
        for n, key in enumerate(KEYS):
            await store.put(key, f"object {n}".encode() * 1000, "image/png")
        (directory / "gen-a" / ".partial-leftover").write_bytes(b"half")  # never copied

    asyncio.run(put())


def test_local_objects_move_into_the_bucket_and_a_second_run_resumes(env, s3_server, capsys):
    workdir, bucket = env
    seed(workdir / "outputs")
    # An interrupted earlier run got one object across.
    s3_server.client().put_object(
        Bucket=bucket, Key=f"moved/{KEYS[0]}", Body=b"object 0" * 1000, ContentType="image/png"
    )
    assert main(["outputs", "migrate", "--to", f"s3://{bucket}/moved"]) == 0
    out = capsys.readouterr().out
    assert "copied 3, already there 1" in out and f"BASE_OUTPUT_STORE=s3://{bucket}/moved" in out
    assert s3_server.keys(bucket, "moved/") == sorted(f"moved/{k}" for k in KEYS)
    head = s3_server.client().head_object(Bucket=bucket, Key=f"moved/{KEYS[1]}")
    assert head["ContentType"] == "image/webp"
    body = s3_server.client().get_object(Bucket=bucket, Key=f"moved/{KEYS[2]}")["Body"].read()
    assert body == b"object 2" * 1000
    assert main(["outputs", "migrate", "--to", f"s3://{bucket}/moved"]) == 0
    assert "copied 0, already there 4" in capsys.readouterr().out


def test_migrating_into_the_same_store_is_refused(env, capsys):
    workdir, _ = env
    assert main(["outputs", "migrate", "--to", f"file://{workdir / 'outputs'}", "--from", f"file://{workdir / 'outputs'}"]) == 2
    assert "already in" in capsys.readouterr().err
