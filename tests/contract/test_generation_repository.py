"""GenerationRepository on every backend."""

from __future__ import annotations

import attrs
import pytest

from base_core.errors import Conflict
from base_core.generation import GenerationQuery, PredictionUpdate, Status, Trigger
from base_core.registry import Action


async def test_a_generation_comes_back_with_every_field(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1")
    generation = build.generation(
        "gen-1",
        action=Action.EDIT,
        prompt="сделай фон ☀️",
        input_image_url="https://example.com/a.png",
        settings={"aspect_ratio": "match_input_image", "nested": {"list": [1, 2.5, None, "x"]}},
        replicate_input={"prompt": "сделай фон ☀️", "image_input": ["https://example.com/a.png"]},
        cost=4,
        status=Status.COMPLETED,
        prediction_id="pred-1",
        token_id="tok-1",
        output_urls=["https://replicate.delivery/1.png", "https://replicate.delivery/2.png"],
        error_message=None,
        processing_time_ms=1234,
        completed_at=build.at(9),
        updated_at=build.at(9),
        idempotency_key="idem-1",
        request_fingerprint="abc",
    )
    async with uow_factory() as uow:
        await uow.generations.add(generation)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.generations.get("gen-1") == generation
        assert await uow.generations.get_for_update("gen-1") == generation
        assert await uow.generations.get_by_prediction_for_update("pred-1") == generation
        assert await uow.generations.get_by_idempotency_key("user-1", "idem-1") == generation
        assert await uow.generations.get_by_idempotency_key("user-2", "idem-1") is None
        assert await uow.generations.get("missing") is None
        assert await uow.generations.get_for_update("missing") is None
        assert await uow.generations.get_by_prediction_for_update("missing") is None


async def test_empty_and_missing_outputs_stay_apart(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1")
    async with uow_factory() as uow:
        await uow.generations.add(build.generation("gen-none", output_urls=None, settings={}))
        await uow.generations.add(build.generation("gen-empty", output_urls=[]))
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.generations.get("gen-none")).output_urls is None
        assert (await uow.generations.get("gen-none")).settings == {}
        assert (await uow.generations.get("gen-empty")).output_urls == ()


async def test_ids_prediction_ids_and_idempotency_keys_are_unique(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1")
    await build.user_with_credits(uow_factory, "user-2")
    async with uow_factory() as uow:
        await uow.generations.add(build.generation("gen-1", prediction_id="pred-1", idempotency_key="k"))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.generations.add(build.generation("gen-1"))
        with pytest.raises(Conflict):
            await uow.generations.add(build.generation("gen-2", prediction_id="pred-1"))
        with pytest.raises(Conflict):
            await uow.generations.add(build.generation("gen-3", idempotency_key="k"))
        # The same key is free for another user, and many generations have no key.
        await uow.generations.add(build.generation("gen-4", user_id="user-2", idempotency_key="k"))
        await uow.generations.add(build.generation("gen-5"))
        await uow.generations.add(build.generation("gen-6"))
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.generations.get_by_idempotency_key("user-2", "k")).id == "gen-4"


async def test_save_records_every_change(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1")
    async with uow_factory() as uow:
        await uow.generations.add(build.generation("gen-1"))
        await uow.commit()
    async with uow_factory() as uow:
        generation = await uow.generations.get_for_update("gen-1")
        generation = generation.submitted("pred-1", "tok-1", build.at(1))
        generation = generation.advance(
            PredictionUpdate("pred-1", Trigger.SUCCEED, output=("https://x/1.png",), predict_time=2.5),
            build.at(2),
        )
        generation = generation.delete(build.at(3))
        await uow.generations.save(generation)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.generations.get("gen-1")
        assert stored == generation
        assert (stored.status, stored.output_urls, stored.processing_time_ms) == (
            Status.COMPLETED, ("https://x/1.png",), 2500,
        )
        assert stored.deleted_at == build.at(3) and stored.updated_at == build.at(3)


async def test_save_refuses_a_prediction_of_another_generation(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1")
    async with uow_factory() as uow:
        await uow.generations.add(build.generation("gen-1", prediction_id="pred-1"))
        await uow.generations.add(build.generation("gen-2"))
        await uow.commit()
    async with uow_factory() as uow:
        other = await uow.generations.get_for_update("gen-2")
        with pytest.raises(Conflict):
            await uow.generations.save(attrs.evolve(other, prediction_id="pred-1"))
        # Nothing was written, and the unit of work goes on (a violation would have
        # poisoned a PostgreSQL transaction).
        await uow.generations.save(attrs.evolve(other, prediction_id="pred-2"))
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.generations.get("gen-2")).prediction_id == "pred-2"
        assert (await uow.generations.get_by_prediction_for_update("pred-1")).id == "gen-1"


async def _history(uow_factory, build) -> None:
    await build.user_with_credits(uow_factory, "user-1")
    await build.user_with_credits(uow_factory, "user-2")
    rows = [
        # id, created (s), action, status, deleted
        ("g01", 1, Action.CREATE, Status.COMPLETED, False),
        ("g02", 2, Action.EDIT, Status.FAILED, False),
        ("g03", 3, Action.CREATE, Status.PROCESSING, False),
        ("g04", 3, Action.UPSCALE, Status.COMPLETED, False),  # same time as g03: id breaks the tie
        ("g05", 4, Action.CREATE, Status.COMPLETED, True),
        ("g06", 5, Action.REMOVE_BG, Status.PENDING, False),
        ("g07", 6, Action.CREATE, Status.CANCELED, False),
    ]
    async with uow_factory() as uow:
        for gid, created, action, status, deleted in rows:
            await uow.generations.add(
                build.generation(
                    gid, action=action, status=status, created_at=build.at(created),
                    updated_at=build.at(created), deleted_at=build.at(50) if deleted else None,
                )
            )
        await uow.generations.add(build.generation(
            "other", user_id="user-2", created_at=build.at(9), updated_at=build.at(9)
        ))
        await uow.commit()


async def test_list_is_newest_first_without_deleted_ones(uow_factory, build) -> None:
    await _history(uow_factory, build)
    async with uow_factory() as uow:
        page = await uow.generations.page(GenerationQuery("user-1"))
    assert [g.id for g in page.items] == ["g07", "g06", "g04", "g03", "g02", "g01"]
    assert (page.total, page.page, page.limit, page.total_pages) == (6, 1, 20, 1)


async def test_list_pages_and_filters(uow_factory, build) -> None:
    await _history(uow_factory, build)
    async with uow_factory() as uow:
        second = await uow.generations.page(GenerationQuery("user-1", page=2, limit=4))
        beyond = await uow.generations.page(GenerationQuery("user-1", page=5, limit=4))
        created = await uow.generations.page(GenerationQuery("user-1", action=Action.CREATE))
        completed = await uow.generations.page(GenerationQuery("user-1", status=Status.COMPLETED))
        both = await uow.generations.page(
            GenerationQuery("user-1", action=Action.CREATE, status=Status.COMPLETED)
        )
        nobody = await uow.generations.page(GenerationQuery("nobody"))
    assert ([g.id for g in second.items], second.total, second.total_pages) == (["g02", "g01"], 6, 2)
    assert (beyond.items, beyond.total) == ([], 6)
    assert [g.id for g in created.items] == ["g07", "g03", "g01"]
    assert [g.id for g in completed.items] == ["g04", "g01"]
    assert [g.id for g in both.items] == ["g01"]
    assert (nobody.items, nobody.total) == ([], 0)


async def test_in_flight_counts_pending_and_processing(uow_factory, build) -> None:
    await _history(uow_factory, build)
    async with uow_factory() as uow:
        assert await uow.generations.count_in_flight("user-1") == 2
        assert await uow.generations.count_in_flight("user-2") == 1
        assert await uow.generations.count_in_flight("nobody") == 0


async def test_in_flight_updated_before_is_oldest_first(uow_factory, build) -> None:
    await _history(uow_factory, build)
    async with uow_factory() as uow:
        stale = await uow.generations.in_flight_updated_before(build.at(10), 10)
        assert [g.id for g in stale] == ["g03", "g06", "other"]
        assert [g.id for g in await uow.generations.in_flight_updated_before(build.at(5), 10)] == ["g03"]
        assert [g.id for g in await uow.generations.in_flight_updated_before(build.at(10), 1)] == ["g03"]
