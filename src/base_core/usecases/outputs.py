"""Keeping results: copy a completed generation's outputs before Replicate deletes them.

Replicate deletes output files an hour after a prediction ends, so a completed generation
points at Replicate only until its copies are stored; then `output_urls` point at the
copies and `source_urls` keep the originals. The copy runs outside any unit of work (it is
a download), and a failure loses nothing: the generation stays completed with Replicate's
URLs and the reconciler tries again while Replicate still has the files.
"""

from __future__ import annotations

from base_core.errors import InfrastructureError, OutputCopyFailed
from base_core.events import OutputsNotKept
from base_core.generation import Generation
from base_core.usecases.context import Context


async def keep_outputs(ctx: Context, generation_id: str) -> Generation | None:
    """Copy the outputs into the store; return the generation when they are kept now.

    None when there is no store, nothing to copy, or the copy failed (told to the
    dispatcher as OutputsNotKept; the reconciler tries again). Two processes copying at once store the same files and the second
    finds the work done.
    """
    if ctx.outputs is None:
        return None
    async with ctx.work() as uow:
        generation = await uow.generations.get(generation_id)
    if generation is None or not generation.needs_output_copy:
        return None
    try:
        stored = await ctx.outputs.keep(generation.id, list(generation.source_urls or ()))
    except OutputCopyFailed as error:
        failed = OutputsNotKept(
            at=ctx.clock.now(), generation_id=generation.id, user_id=generation.user_id, version=0,
            reason=error.message,
        )
        await ctx.dispatcher.dispatch([failed])
        return None
    async with ctx.work() as uow:
        generation = await uow.generations.get_for_update(generation_id)
        kept = generation.outputs_kept(stored, ctx.clock.now()) if generation is not None else None
        if kept is None:
            if generation is not None and generation.is_deleted:
                # Deleted while we copied: the copies must not outlive it.
                await uow.files.queue_deletions(stored, ctx.clock.now())
                await uow.commit()
                orphans = stored
            else:
                return None
        else:
            saved = await uow.generations.save(kept)
            await uow.commit()
            return saved
    try:
        await ctx.outputs.delete(orphans)
        async with ctx.work() as uow:
            await uow.files.deletions_done(orphans)
            await uow.commit()
    except InfrastructureError:
        pass  # queued: the reconciler deletes them
    return None


__all__ = ["keep_outputs"]
