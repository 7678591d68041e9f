"""The S3-compatible store the tests use (moto's server on loopback), a bucket in it, and
the store's own raw put measured from this process: the limit an upload approaches."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import obstore
from obstore.store import S3Store

from bench.load import percentiles
from bench.servers import PYTHON, running

ACCESS_KEY = "bench-access-key"
SECRET_KEY = "bench-secret-key"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


@attrs.frozen
class Bucket:
    endpoint: str
    name: str

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def base_env(self, prefix: str = "base") -> dict[str, str]:
        return {"BASE_OUTPUT_STORE": f"s3://{self.name}/{prefix}", "BASE_S3_ENDPOINT_URL": self.endpoint,
                "BASE_S3_REGION": REGION, **CREDENTIALS}

    def minimal_env(self, prefix: str = "minimal") -> dict[str, str]:
        return {"BENCH_S3_ENDPOINT": self.endpoint, "BENCH_S3_BUCKET": self.name,
                "BENCH_S3_PREFIX": prefix, **CREDENTIALS}

    def store(self, prefix: str = "raw") -> S3Store:
        # The options ObjectOutputStore.s3 gives its S3Store.
        return S3Store(
            self.name, prefix=prefix, endpoint=self.endpoint, region=REGION,
            access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY,
            client_options={"allow_http": True, "timeout": "30s", "connect_timeout": "5s"},
            retry_config={"max_retries": 2, "retry_timeout": timedelta(seconds=30),
                          "backoff": {"init_backoff": timedelta(milliseconds=100),
                                      "max_backoff": timedelta(seconds=1), "base": 2}},
        )

    def empty(self) -> int:
        """Delete every object (moto keeps them in memory); how many there were."""
        client, deleted = self.client(), 0
        while True:
            listed = client.list_objects_v2(Bucket=self.name, MaxKeys=1000).get("Contents", [])
            if not listed:
                return deleted
            client.delete_objects(Bucket=self.name, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
            deleted += len(listed)


@contextlib.contextmanager
def moto(workdir: Path) -> Iterator[Bucket]:
    with running("moto", [PYTHON, "-m", "moto.server", "-H", "127.0.0.1"], {}, "/", workdir) as server:
        bucket = Bucket(server.url, f"bench-{uuid.uuid4().hex[:8]}")
        bucket.client().create_bucket(Bucket=bucket.name)
        yield bucket


async def _puts(store: S3Store, content: bytes, seconds: float, warmup: float, concurrency: int
                ) -> dict[str, Any]:
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    latencies: list[float] = []

    async def worker(w: int) -> None:
        n = 0
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            await obstore.put_async(store, f"{w}-{n}.jpg", content, attributes={"Content-Type": "image/jpeg"})
            ended = time.perf_counter()
            n += 1
            if began >= measure_from and ended <= stop_at:
                latencies.append(ended - began)

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return {"requests": len(latencies), "rps": len(latencies) / seconds, **percentiles(latencies)}


def raw_puts(bucket: Bucket, content: bytes, seconds: float, warmup: float, concurrency: int
             ) -> dict[str, Any]:
    """`concurrency` tasks putting `content` for `seconds` after `warmup`: the report."""
    return asyncio.run(_puts(bucket.store(), content, seconds, warmup, concurrency))
