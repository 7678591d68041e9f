"""The OutputStore port on an object store through obstore: a local directory or an
S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Supabase Storage's S3 endpoint).

obstore (Python bindings of the Rust `object_store` crate) gives one async API for both,
so the two stores are one class and one set of tests. Keys are the core's
(`{generation_id}/{n}-{digest}.{ext}`, `uploads/{id}.{ext}`); on a local directory a key
is the file's path under it, as before this adapter. A result is downloaded into a
spooled temporary file (memory up to 1 MiB, then disk) and streamed into the store from
there, so a large result never sits in memory whole and a failed download writes
nothing. Reads stream in chunks of at most 256 KiB. obstore's errors leave as the core's:
a missing object is None, anything else OutputStoreUnavailable (or OutputCopyFailed
inside `keep`).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
from obstore.store import LocalStore, S3Store

from adapters.storage.fetch import GuardedFetch
from adapters.storage.naming import (
    extension_for,
    is_safe_id,
    is_safe_key,
    media_type_of,
    name_for,
    output_key,
)
from base_core.errors import OutputCopyFailed, OutputStoreUnavailable
from base_core.ports import StoredObject

SPOOL_BYTES = 1024 * 1024
READ_CHUNK = 256 * 1024


def _reason(error: BaseException) -> str:
    """obstore's message without its multi-line debug dump."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


class ObjectOutputStore:
    def __init__(
        self,
        store: LocalStore | S3Store | Callable[[], LocalStore],
        *,
        fetch: GuardedFetch | None = None,
        describe: str = "",
    ) -> None:
        # A local directory is made (and opened) on first use, so a command that only reads
        # the database creates no output directory.
        self._store: LocalStore | S3Store | None = None
        self._open: Callable[[], LocalStore] | None = None
        if isinstance(store, LocalStore | S3Store):
            self._store = store
        else:
            self._open = store
        self.describe = describe  # file:///dir or s3://bucket/prefix, for messages
        # A local directory keeps no attributes: its media types come from the key's extension.
        self._attributes = isinstance(store, S3Store)
        self._own_fetch = GuardedFetch() if fetch is None else None
        self._fetch = fetch or self._own_fetch

    @property
    def store(self) -> LocalStore | S3Store:
        if self._store is None:
            assert self._open is not None
            self._store = self._open()
        return self._store

    @classmethod
    def local(cls, directory: Path, fetch: GuardedFetch | None = None) -> ObjectOutputStore:
        directory = Path(directory).resolve()

        def opened() -> LocalStore:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise OutputStoreUnavailable(f"cannot create {directory}: {error.strerror}") from error
            return LocalStore(directory)

        return cls(opened, fetch=fetch, describe=f"file://{directory}")

    @classmethod
    def s3(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        fetch: GuardedFetch | None = None,
        timeout_seconds: float = 30.0,
    ) -> ObjectOutputStore:
        options: dict[str, Any] = {}
        for name, value in (
            ("endpoint", endpoint), ("region", region),
            ("access_key_id", access_key_id), ("secret_access_key", secret_access_key),
        ):
            if value:
                options[name] = value
        client_options: Any = {
            "timeout": f"{timeout_seconds:g}s",
            "connect_timeout": f"{min(5.0, timeout_seconds):g}s",
        }
        if endpoint and endpoint.startswith("http://"):
            client_options["allow_http"] = True
        # A bucket that does not answer must fail a request in seconds, not after
        # object_store's default three minutes of retries: the caller retries later.
        retry: Any = {
            "max_retries": 2,
            "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=1), "base": 2},
            "retry_timeout": timedelta(seconds=timeout_seconds),
        }
        store = S3Store(
            bucket, prefix=prefix.strip("/") or None, client_options=client_options,
            retry_config=retry, **options,
        )
        return cls(store, fetch=fetch, describe=f"s3://{bucket}/{prefix.strip('/')}")

    # The port

    async def keep(self, generation_id: str, source_urls: Sequence[str]) -> list[str]:
        if not is_safe_id(generation_id):
            raise OutputCopyFailed(generation_id, "not a generation id the store can file")
        keys = []
        for index, source in enumerate(source_urls):
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
                media_type = await self._fetcher().to_file(source, spool)
                size = spool.tell()
                spool.seek(0)
                key = output_key(generation_id, name_for(index, source, extension_for(source, media_type)))
                try:
                    await self._put(key, spool, media_type_of(key), size)
                except OutputStoreUnavailable as error:
                    raise OutputCopyFailed(source, f"could not write the copy: {error.reason}") from None
            keys.append(key)
        return keys

    async def put(self, key: str, content: bytes, media_type: str) -> None:
        if not is_safe_key(key):
            raise OutputStoreUnavailable(f"refusing to write an unexpected key {key!r}")
        await self._put(key, content, media_type, len(content))

    async def open(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredObject | None:
        if not is_safe_key(key):
            return None
        try:
            if byte_range is None:
                result = await obstore.get_async(self.store, key)
                start, end = 0, result.meta["size"]
            else:
                meta = await obstore.head_async(self.store, key)
                size = meta["size"]
                start, end = min(byte_range[0], size), min(byte_range[1], size)
                if start >= end:  # nothing of it to send; the caller answers 416
                    return StoredObject(key, media_type_of(key), size, _etag(meta), start, start, _empty())
                result = await obstore.get_async(self.store, key, options={"range": (start, end)})
        except FileNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001 - obstore raises its own tree; translated here
            raise OutputStoreUnavailable(_reason(error)) from None
        media_type = str(result.attributes.get("Content-Type") or media_type_of(key))
        meta = result.meta
        return StoredObject(key, media_type, meta["size"], _etag(meta), start, end, _chunks(result))

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            if not is_safe_key(key):
                continue
            try:
                await obstore.delete_async(self.store, key)
            except FileNotFoundError:
                pass
            except Exception as error:  # noqa: BLE001
                raise OutputStoreUnavailable(_reason(error)) from None

    # Beyond the port: for the HTTP links, `base outputs migrate` and tests

    def presign(self, key: str, seconds: float) -> str:
        """A time-limited GET URL of a private bucket's object (S3 only)."""
        if not isinstance(self.store, S3Store):
            raise OutputStoreUnavailable("only an S3 store can sign URLs")
        try:
            return obstore.sign(self.store, "GET", key, timedelta(seconds=seconds))
        except Exception as error:  # noqa: BLE001
            raise OutputStoreUnavailable(_reason(error)) from None

    async def keys(self) -> list[str]:
        """Every key the store holds that it could have written (no temporaries)."""
        try:
            found = await obstore.list(self.store).collect_async()
        except Exception as error:  # noqa: BLE001
            raise OutputStoreUnavailable(_reason(error)) from None
        return sorted(meta["path"] for meta in found if is_safe_key(meta["path"]))

    async def exists(self, key: str) -> bool:
        try:
            await obstore.head_async(self.store, key)
        except FileNotFoundError:
            return False
        except Exception as error:  # noqa: BLE001
            raise OutputStoreUnavailable(_reason(error)) from None
        return True

    async def size_of(self, key: str) -> int | None:
        try:
            meta = await obstore.head_async(self.store, key)
        except FileNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001
            raise OutputStoreUnavailable(_reason(error)) from None
        return int(meta["size"])

    async def copy_into(self, target: ObjectOutputStore, key: str) -> None:
        """Stream one object into another store (written whole or not at all there)."""
        try:
            result = await obstore.get_async(self.store, key)
            size = int(result.meta["size"])
        except Exception as error:  # noqa: BLE001
            raise OutputStoreUnavailable(_reason(error)) from None
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            async for chunk in _chunks(result):
                spool.write(chunk)
            spool.seek(0)
            await target._put(key, spool, media_type_of(key), size)

    async def aclose(self) -> None:
        if self._own_fetch is not None:
            await self._own_fetch.aclose()

    def _fetcher(self) -> GuardedFetch:
        assert self._fetch is not None
        return self._fetch

    async def _put(self, key: str, content: Any, media_type: str, size: int) -> None:
        attributes = {"Content-Type": media_type} if self._attributes else None
        try:
            await obstore.put_async(
                self.store, key, content, attributes=attributes,
                use_multipart=size > 8 * 1024 * 1024,
            )
        except Exception as error:  # noqa: BLE001
            raise OutputStoreUnavailable(_reason(error)) from None


def _etag(meta: Any) -> str:
    tag = meta.get("e_tag") or f'{meta["size"]:x}-{meta["last_modified"].timestamp():.0f}'
    return tag if tag.startswith('"') else f'"{tag}"'


async def _chunks(result: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in result.stream(min_chunk_size=READ_CHUNK):
            yield bytes(chunk)
    except Exception as error:  # noqa: BLE001
        raise OutputStoreUnavailable(_reason(error)) from None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""


def parse_store_url(url: str) -> tuple[str, str, str]:
    """`file://<dir>` → ("file", dir, ""); `s3://<bucket>/<prefix>` → ("s3", bucket, prefix)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("file", "s3") or not rest:
        raise ValueError("must be file://<directory> or s3://<bucket>/<prefix>")
    if scheme == "file":
        return "file", rest, ""
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError("s3:// needs a bucket: s3://<bucket>/<prefix>")
    return "s3", bucket, prefix.strip("/")


__all__ = ["ObjectOutputStore", "parse_store_url"]
