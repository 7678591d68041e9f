"""Deleting a generation deletes what the store holds for it (and its upload, unless
another generation takes it); what the store cannot delete is retried by the reconciler.
A store down while a generation completes loses nothing. On memory, SQLite, PostgreSQL."""

from __future__ import annotations

import pytest
from test_reconcile import World

from adapters.memory import MemoryOutputStore
from base_core import GenerationRequest, Status
from base_core.errors import NotFound
from base_core.uploads import UploadedImage

PNG = b"\x89PNG\r\n\x1a\nfake-but-verified-elsewhere"


@pytest.fixture
async def world(uow_factory) -> World:
    w = World(uow_factory, MemoryOutputStore())
    await w.start()
    await w.studio.ensure_user("bob")
    return w


async def completed(world: World, outputs: int = 2, request: GenerationRequest | None = None, user: str = "alice"):
    if request is None:
        generation = await world.create(outputs)
    else:
        generation = await world.studio.create_generation(user, request)
    update = world.inference.complete(generation.prediction_id)
    for url in update.output:
        world.outputs.publish(url, b"\x89PNG" + url.encode())
    done = await world.studio.apply_update(update)
    return done


async def upload(world: World, user: str = "alice"):
    return await world.studio.add_upload(user, UploadedImage(PNG, "image/png", 4, 3))


def upscale(url: str) -> GenerationRequest:
    return GenerationRequest("upscale", "real-esrgan", input_image_url=url, settings={})


async def test_deleting_a_generation_deletes_its_copies(world):
    done = await completed(world)
    assert len(done.output_keys) == 2 and all(k in world.outputs.objects for k in done.output_keys)
    await world.studio.delete_generation("alice", done.id)
    assert not any(k in world.outputs.objects for k in done.output_keys)
    async with world.studio.context.uow() as uow:
        assert await uow.files.pending_deletions(10) == []


async def test_a_failed_delete_stays_queued_and_the_reconciler_finishes_it(world):
    done = await completed(world)
    world.outputs.down = True
    await world.studio.delete_generation("alice", done.id)  # the user's delete still succeeds
    with pytest.raises(NotFound):
        await world.studio.generation("alice", done.id)
    async with world.studio.context.uow() as uow:
        assert sorted(await uow.files.pending_deletions(10)) == sorted(done.output_keys)
    report = await world.reconcile()
    assert report.problems and "deleting stored files failed" in report.problems[-1]
    world.outputs.down = False
    report = await world.reconcile()
    assert report.files_deleted == 2
    assert not any(k in world.outputs.objects for k in done.output_keys)
    async with world.studio.context.uow() as uow:
        assert await uow.files.pending_deletions(10) == []


async def test_an_upload_goes_with_the_last_generation_that_takes_it(world):
    photo = await upload(world)
    url = f"https://anywhere.example/outputs/{photo.key}"
    first = await completed(world, request=upscale(url))
    second = await completed(world, request=upscale(url))
    assert first.input_upload_id == second.input_upload_id == photo.id
    await world.studio.delete_generation("alice", first.id)
    assert photo.key in world.outputs.objects  # still the input of the second
    assert (await world.studio.upload("alice", photo.id)).id == photo.id
    await world.studio.delete_generation("alice", second.id)
    assert photo.key not in world.outputs.objects
    with pytest.raises(NotFound):
        await world.studio.upload("alice", photo.id)


async def test_another_users_upload_is_not_found(world):
    photo = await upload(world, "alice")
    with pytest.raises(NotFound):
        await world.studio.create_generation("bob", upscale(f"https://x.example/outputs/{photo.key}"))
    with pytest.raises(NotFound):
        await world.studio.upload("bob", photo.id)
    assert world.inference.predictions == {}
    assert await world.studio.balance("bob") == 10


async def test_an_upload_on_a_private_host_is_accepted_where_other_local_urls_are_not(world):
    photo = await upload(world)
    generation = await world.studio.create_generation("alice", upscale(f"http://127.0.0.1:8000/outputs/{photo.key}"))
    assert generation.status is Status.PROCESSING
    with pytest.raises(Exception, match="public host"):
        await world.studio.create_generation("alice", upscale("http://127.0.0.1:8000/outputs/other.png"))


async def test_the_store_down_while_a_generation_completes_loses_nothing(world):
    generation = await world.create(2)
    update = world.inference.complete(generation.prediction_id)
    for url in update.output:
        world.outputs.publish(url, b"\x89PNG" + url.encode())
    world.outputs.down = True
    done = await world.studio.apply_update(update)
    assert done.status is Status.COMPLETED and done.outputs_kept_at is None
    assert list(done.output_urls) == list(update.output)  # Replicate's, meanwhile
    assert await world.studio.balance("alice") == 8  # charged once, as completed
    report = await world.reconcile()
    assert report.outputs_kept == 0
    world.outputs.down = False
    report = await world.reconcile(after=61)
    assert report.outputs_kept == 1
    kept = await world.studio.generation("alice", generation.id)
    assert len(kept.output_keys) == 2
    for key, source in zip(kept.output_keys, update.output, strict=True):
        assert world.outputs.objects[key].content == b"\x89PNG" + source.encode()


async def test_a_copy_that_finishes_after_the_delete_is_deleted_too(world):
    from base_core.usecases.outputs import keep_outputs

    generation = await world.create(1)
    update = world.inference.complete(generation.prediction_id)
    world.outputs.publish(update.output[0], b"\x89PNG-late")
    world.outputs.fail_next = 1
    done = await world.studio.apply_update(update)  # completed, the copy failed
    assert done.outputs_kept_at is None
    store = world.outputs
    original_keep = store.keep

    async def keep_then_delete(generation_id, sources):
        keys = await original_keep(generation_id, sources)
        await world.studio.delete_generation("alice", generation_id)  # the user deletes meanwhile
        return keys

    store.keep = keep_then_delete
    assert await keep_outputs(world.studio.context, generation.id) is None
    assert store.objects == {}
    async with world.studio.context.uow() as uow:
        assert await uow.files.pending_deletions(10) == []
