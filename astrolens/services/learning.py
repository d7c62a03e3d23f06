"""The learning loop's service: re-rank, label next, train, re-embed, predict.

The pieces: `ranking` (the queue as the re-ranker sees it), `heads` (promoted heads),
`training` and `training_data` (fine-tuning runs).

Everything blocking here runs where the pipeline's schedulers put it: store reads and writes
on the `db` executor, ranking on `ml`, training on its own `train` thread. Functions that run
on a worker thread reach the store through `app.db(...)` (which hops to the db thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from astrolens.domain.embedding import Embedding
from astrolens.domain.learning import HeadPrediction, TrainingRequest
from astrolens.domain.ports import EventSink
from astrolens.domain.records import TrainingRun
from astrolens.pipeline.executors import run_in
from astrolens.pipeline.learning import (
    ArchiveItem,
    ArchiveReembedder,
    RerankScheduler,
    TrainingRunner,
)
from astrolens.services.context import ServiceContext
from astrolens.services.heads import heads_dir, predict_with_heads
from astrolens.services.ranking import (
    PHOTOMETRY_PER_RUN,
    RankPool,
    load_pool,
    measure_photometry,
    pick_next,
    rank_pool,
    save_photometry,
    save_ranks,
)
from astrolens.services.training import run_finetune

log = logging.getLogger(__name__)


class LearningService:
    """What AgentRuntime and the CLI call: re-rank, label next, train, re-embed."""

    def __init__(self, app: ServiceContext, events: EventSink | None = None) -> None:
        self.app = app
        self.train_executor = ThreadPoolExecutor(1, thread_name_prefix="astrolens-train")

        def model_id() -> str:  # asked each time: the model may change
            return app.embedder.model_id

        self.reranker: RerankScheduler[RankPool] = RerankScheduler(
            load=lambda: load_pool(app.repository, model_id(), heads_dir(app)),
            prepare=self._measure,
            rank=rank_pool,
            save=lambda scores: save_ranks(app.repository, list(scores)),
            db=app.executors.db,
            ml=app.executors.ml,
            io=app.executors.io,
        )
        self.runner = TrainingRunner(self.train_executor, events)
        self._events = events

    def _measure(self, pool: RankPool, limit: int = PHOTOMETRY_PER_RUN) -> RankPool:
        """Blocking (io thread): fill in missing photometry; the store is reached via db."""
        from astrolens.services.batch_score import decode_stored

        app = self.app
        return measure_photometry(
            pool,
            lambda path: decode_stored(app.decoder, path).pixels,
            lambda measured: app.db(lambda repo: save_photometry(repo, measured)),
            limit,
        )

    async def catch_up_photometry(self, batch: int = 200) -> int:
        """Measure, in the background, every queued candidate that has no photometry yet (an
        archive from before photometry, or a burst of candidates): a re-rank after a label
        then only measures the few newest. Returns how many were measured."""
        app = self.app
        pool = await run_in(
            app.executors.db, load_pool, app.repository, app.embedder.model_id, None
        )
        total = len(pool.unmeasured)
        while pool.unmeasured:  # in batches, so other io work interleaves
            pool = await run_in(app.executors.io, self._measure, pool, batch)
        return total  # unreadable ones count: they are stored as NaN

    async def rerank(self) -> int:
        return await self.reranker.refresh()

    async def label_next(self, n: int) -> list[int]:
        model_id = self.app.embedder.model_id
        pool = await run_in(
            self.app.executors.db, load_pool, self.app.repository, model_id, heads_dir(self.app)
        )
        pool = await run_in(self.app.executors.io, self._measure, pool)
        return await run_in(self.app.executors.ml, pick_next, pool, n)

    def train(self, request: TrainingRequest) -> asyncio.Task[TrainingRun]:
        name = request.dataset.name if request.dataset else "labels"
        return self.runner.start(
            name, lambda progress, cancelled: run_finetune(self.app, request, progress, cancelled)
        )

    def reembedder(self) -> ArchiveReembedder:
        """Embeds stored images that lack a vector of the current model (after a switch)."""
        app = self.app
        embedder = app.embedder

        def missing(limit: int) -> list[ArchiveItem]:
            records = app.repository.images_missing_embedding(embedder.model_id, limit)
            return [ArchiveItem(r.id, r.image_path) for r in records]

        def embed(items: Sequence[ArchiveItem]) -> list[tuple[int, Embedding]]:
            from astrolens.services.batch_score import decode_stored

            kept, pixels = [], []
            for item in items:
                if not item.image_path or not Path(item.image_path).exists():
                    continue
                try:
                    pixels.append(decode_stored(app.decoder, Path(item.image_path)).pixels)
                    kept.append(item.image_id)
                except Exception as exc:  # an unreadable file is skipped, not fatal
                    log.warning("cannot re-embed image %s: %s", item.image_id, exc)
            if not kept:
                return []
            vectors = embedder.embed(pixels)
            return [
                (i, Embedding(embedder.model_id, v)) for i, v in zip(kept, vectors, strict=True)
            ]

        def save(pairs: Sequence[tuple[int, Embedding]]) -> None:
            for image_id, embedding in pairs:
                app.repository.add_embedding(image_id, embedding)

        return ArchiveReembedder(
            model_id=embedder.model_id,
            dim=embedder.dim,
            missing=missing,
            embed=embed,
            save=save,
            db=app.executors.db,
            ml=app.executors.ml,
            events=self._events,
        )

    async def predictions(self, image_id: int) -> list[HeadPrediction]:
        app = self.app
        model_id = app.embedder.model_id
        vector = await run_in(
            app.executors.db, lambda: app.repository.embedding_vector(image_id, model_id)
        )
        found: list[HeadPrediction] = await run_in(
            app.executors.ml, predict_with_heads, heads_dir(app), model_id, vector
        )
        return found

    async def training_runs(self) -> list[TrainingRun]:
        runs: list[TrainingRun] = await run_in(
            self.app.executors.db, lambda: self.app.repository.training_runs()
        )
        return runs

    def close(self) -> None:
        self.runner.cancel()
        self.train_executor.shutdown(wait=True, cancel_futures=True)
