"""A real S3 protocol server for tests: moto's standalone server on loopback.

`moto[server]` comes with the test extra. Without it the S3 tests skip, saying so;
`BASE_TEST_REQUIRE_S3=1` (set by .ci/run) makes them fail instead.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from live_server import free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"


def moto_missing() -> str | None:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return "moto[server] is not installed: no S3 server to test against"
    return None


def require_moto() -> None:
    reason = moto_missing()
    if reason is not None:
        if os.environ.get("BASE_TEST_REQUIRE_S3") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes] | None

    def new_bucket(self) -> str:
        import boto3

        name = f"base-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        boto3  # noqa: B018 - imported for the client above
        return name

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def env(self, bucket: str, prefix: str = "base") -> dict[str, str]:
        return {
            "BASE_OUTPUT_STORE": f"s3://{bucket}/{prefix}",
            "BASE_S3_ENDPOINT_URL": self.endpoint,
            "BASE_S3_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }


@contextlib.contextmanager
def running_moto(port: int | None = None) -> Iterator[S3Server]:
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}")
            try:
                urllib.request.urlopen(endpoint + "/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield S3Server(endpoint, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "S3Server", "moto_missing", "require_moto", "running_moto"]
