"""Stored files: uploads in, and the objects of deleted generations (and uploads) out.

An upload is put into the store, then recorded; a failed put records nothing. Deleting
is the other way round: the keys to remove are queued in the same unit of work that
deletes the generation, then removed from the store; what the store could not delete
stays queued and the reconciler tries again each round, so nothing is left behind
silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from base_core.errors import InfrastructureError, NotFound, OutputStoreUnavailable
from base_core.generation import Generation
from base_core.ports import UnitOfWork
from base_core.uploads import Upload, UploadedImage, upload_id_in, upload_key
from base_core.usecases.context import Context

PURGE_BATCH = 100


async def add_upload(ctx: Context, user_id: str, image: UploadedImage) -> Upload:
    if ctx.outputs is None:
        raise OutputStoreUnavailable("no output store is configured")
    upload_id = ctx.ids.new_id().replace("-", "")
    key = upload_key(upload_id, image.media_type)
    await ctx.outputs.put(key, image.content, image.media_type)
    upload = Upload(
        id=upload_id, user_id=user_id, key=key, content_type=image.media_type,
        width=image.width, height=image.height, bytes=len(image.content),
        created_at=ctx.clock.now(),
    )
    try:
        async with ctx.work() as uow:
            await uow.files.add_upload(upload)
            await uow.commit()
    except InfrastructureError:
        await _delete_quietly(ctx, [key])
        raise
    return upload


async def get_upload(ctx: Context, user_id: str, upload_id: str) -> Upload:
    async with ctx.work() as uow:
        upload = await uow.files.upload(upload_id)
    if upload is None:
        raise NotFound("upload", upload_id)
    upload.ensure_owned_by(user_id)
    return upload


async def owned_upload_in(ctx: Context, user_id: str, url: str | None) -> Upload | None:
    """The caller's upload an input URL names; NotFound for anyone else's or a deleted one."""
    upload_id = upload_id_in(url)
    return None if upload_id is None else await get_upload(ctx, user_id, upload_id)


async def queue_generation_files(uow: UnitOfWork, deleted: Generation) -> list[str]:
    """In the deleting unit of work: queue the generation's copies, and its uploaded input
    unless another generation still takes it; return the queued keys."""
    keys = list(deleted.stored_keys)
    if deleted.input_upload_id is not None and not await uow.files.upload_in_use(deleted.input_upload_id):
        upload = await uow.files.upload(deleted.input_upload_id)
        if upload is not None:
            await uow.files.remove_upload(upload.id)
            keys.append(upload.key)
    if keys:
        await uow.files.queue_deletions(keys, deleted.updated_at)
    return keys


async def purge(ctx: Context, keys: Sequence[str]) -> None:
    """Delete queued objects from the store and drop them from the queue; raises
    OutputStoreUnavailable (they stay queued) when the store does not answer."""
    if not keys or ctx.outputs is None:
        return
    await ctx.outputs.delete(keys)
    async with ctx.work() as uow:
        await uow.files.deletions_done(keys)
        await uow.commit()


async def purge_pending(ctx: Context, limit: int = PURGE_BATCH) -> int:
    """The reconciler's part: delete what earlier deletions left queued."""
    if ctx.outputs is None:
        return 0
    async with ctx.work() as uow:
        keys = await uow.files.pending_deletions(limit)
    await purge(ctx, keys)
    return len(keys)


async def _delete_quietly(ctx: Context, keys: list[str]) -> None:
    try:
        if ctx.outputs is not None:
            await ctx.outputs.delete(keys)
    except InfrastructureError:
        pass  # an unrecorded object nobody can name; the record is what was refused


__all__ = ["add_upload", "get_upload", "owned_upload_in", "purge", "purge_pending", "queue_generation_files"]
