"""Re-rank scheduling and archive re-embedding, with plain callables (no torch, no store)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from astrolens.domain.embedding import Embedding, ModelMismatchError
from astrolens.pipeline.learning import ArchiveItem, ArchiveReembedder, RerankScheduler


async def test_a_burst_of_labels_costs_few_reranks_and_each_sees_its_label() -> None:
    pool = ThreadPoolExecutor(1)
    labels: list[int] = []
    seen: list[int] = []

    def load() -> int:
        return len(labels)

    def rank(n: int) -> list[tuple[int, float]]:
        seen.append(n)
        return [(i, float(i)) for i in range(n)]

    scheduler: RerankScheduler[int] = RerankScheduler(
        load=load, rank=rank, save=lambda _s: None, db=pool, ml=pool
    )

    async def label_then_refresh(i: int) -> None:
        labels.append(i)
        await scheduler.refresh()
        assert max(seen) >= i + 1  # a run that started after this label has finished

    await asyncio.gather(*(label_then_refresh(i) for i in range(10)))
    assert scheduler.runs < 10 and max(seen) == 10
    pool.shutdown()


async def test_reembedder_fills_missing_vectors_and_refuses_another_model() -> None:
    pool = ThreadPoolExecutor(1)
    stored: dict[int, Embedding] = {}
    archive = [ArchiveItem(i, f"/img/{i}.png") for i in range(7)]

    def missing(limit: int) -> list[ArchiveItem]:
        return [a for a in archive if a.image_id not in stored][:limit]

    def embed(items: list[ArchiveItem]) -> list[tuple[int, Embedding]]:
        # image 3's file is gone: it is skipped, not retried forever
        return [
            (a.image_id, Embedding("new", np.ones(4, np.float32))) for a in items if a.image_id != 3
        ]

    def save(pairs: list[tuple[int, Embedding]]) -> None:
        stored.update(pairs)

    job = ArchiveReembedder(
        model_id="new",
        dim=4,
        missing=missing,
        embed=embed,
        save=save,
        db=pool,
        ml=pool,
        batch_size=2,
    )
    assert await job.run() == 6 and sorted(stored) == [0, 1, 2, 4, 5, 6]

    stored.clear()
    wrong = ArchiveReembedder(
        model_id="other", dim=4, missing=missing, embed=embed, save=save, db=pool, ml=pool
    )
    with pytest.raises(ModelMismatchError):
        await wrong.run()
    pool.shutdown()


async def test_prepare_runs_on_io_between_load_and_rank() -> None:
    db, ml, io = (ThreadPoolExecutor(1, thread_name_prefix=n) for n in ("db", "ml", "io"))
    steps: list[tuple[str, str]] = []

    def step(name: str, value: int) -> int:
        import threading

        steps.append((name, threading.current_thread().name.split("_")[0]))
        return value + 1

    scheduler: RerankScheduler[int] = RerankScheduler(
        load=lambda: step("load", 0),
        prepare=lambda pool: step("prepare", pool),
        rank=lambda pool: [(0, float(step("rank", pool)))],
        save=lambda scores: steps.append(("save", str(scores[0][1]))),
        db=db,
        ml=ml,
        io=io,
    )
    assert await scheduler.refresh() == 1
    assert steps == [("load", "db"), ("prepare", "io"), ("rank", "ml"), ("save", "3.0")]
    with pytest.raises(ValueError, match="io executor"):
        RerankScheduler(
            load=lambda: 0, prepare=lambda p: p, rank=lambda p: [], save=print, db=db, ml=ml
        )
    for pool in (db, ml, io):
        pool.shutdown()


async def test_every_training_run_ends_with_an_event_even_a_failed_one() -> None:
    from astrolens.domain.events import TrainingEnded
    from astrolens.pipeline.learning import TrainingRunner

    pool = ThreadPoolExecutor(1)
    events: list[object] = []
    runner = TrainingRunner(pool, events.append)
    assert await runner.start("ok", lambda progress, cancelled: 42) == 42

    def broken(progress, cancelled):
        raise ValueError("need true- and false-positive labels")

    with pytest.raises(ValueError):
        await runner.start("broken", broken)
    ended = [e for e in events if isinstance(e, TrainingEnded)]
    assert ended == [
        TrainingEnded("ok", True),
        TrainingEnded("broken", False, "need true- and false-positive labels"),
    ]
    pool.shutdown()
