"""The third stage: gather decoded images into batches, embed each batch on the ml thread
while its files are written on the io threads, judge it per kind of image, then store it
(persist, in line) and buffer what a bootstrapping kind cannot judge yet.

Pause holds a batch at each step (before embedding, before scoring, before its transaction):
what is queued stays queued and is stored after resume, so the store stops growing at once.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from astrolens.domain.lookalike import KIND_KEY
from astrolens.domain.ports import BlobStore, Embedder
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.scoring_bank import ScoringBank, ScoringKey
from astrolens.pipeline.stages.handoff import EmbedItem, EmbedQueue, ScoredBatch, TaskTracker
from astrolens.pipeline.stages.ledger import CycleLedger
from astrolens.pipeline.stages.persist import PersistStage


class EmbedScoreStage:
    def __init__(
        self,
        *,
        embedder: Embedder,
        blobs: BlobStore,
        executors: Executors,
        scoring: ScoringBank,
        persist: PersistStage,
        ledger: CycleLedger,
        resume: asyncio.Event,
        batch_size: int,
        batch_wait_s: float,
        bootstrap_flush_at: int,
    ) -> None:
        self.embedder = embedder
        self.blobs = blobs
        self.ex = executors
        self.scoring = scoring
        self.persist = persist
        self.ledger = ledger
        self.resume = resume  # cleared while paused
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.bootstrap_flush_at = bootstrap_flush_at

    async def run(self, queue: EmbedQueue) -> None:
        """The embed worker (one: the ml thread is one): runs until cancelled."""
        while True:
            batch = await self.next_batch(queue)
            try:
                await self.resume.wait()
                await self.process(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def next_batch(self, queue: EmbedQueue) -> list[EmbedItem]:
        """Up to `batch_size` items: the first waited for, the rest for `batch_wait_s` at most."""
        batch = [await queue.get()]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_size:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), timeout))
            except TimeoutError:
                break
        return batch

    async def process(self, batch: list[EmbedItem]) -> None:
        # The files (original + thumbnail) are written on the io threads while the batch is
        # embedded on the ml thread; the database write waits for both.
        blob_writes = [
            asyncio.ensure_future(run_in(self.ex.io, self.blobs.put_image, it.image, it.original))
            for it in batch
        ]
        try:
            vectors = await run_in(
                self.ex.ml, self.embedder.embed, [it.image.pixels for it in batch]
            )
        except BaseException:
            await asyncio.gather(*blob_writes, return_exceptions=True)
            raise
        for item, vector in zip(batch, vectors, strict=True):
            item.vector = vector
        # Paused while this batch was being embedded (seconds on a busy CPU): keep its vectors
        # and store them after resume, so Pause stops the store growing at once.
        await self.resume.wait()
        # Judged per kind of image (domain/lookalike.py), not only per group: a new survey's
        # cutouts are not flagged wholesale against another survey's reference.
        by_group: dict[ScoringKey, list[EmbedItem]] = {}
        for item in batch:
            kind = item.image.provenance.extra.get(KIND_KEY)
            key = (item.image.group, kind if isinstance(kind, str) else None)
            by_group.setdefault(key, []).append(item)
        stacked: dict[ScoringKey, np.ndarray] = {}
        for group, items in by_group.items():
            stacked[group] = np.stack([it.vector for it in items if it.vector is not None])
            scored = await self.scoring.score(group, stacked[group])
            if scored is not None:
                for item, result in zip(items, scored, strict=True):
                    item.result = result
        await self.resume.wait()  # paused while scoring: hold the batch's one transaction
        stored = await self.persist.store(ScoredBatch(batch, blob_writes))
        outcomes = {id(item): s for item, s in zip(batch, stored, strict=True)}
        finished: list[TaskTracker] = []
        for group, items in by_group.items():
            for i, item in enumerate(items):
                outcome = outcomes[id(item)]
                if await self.persist.settle(item, outcome, finished):
                    self.scoring.defer(
                        group, outcome.record.id, stacked[group][i], outcome.record.content_hash
                    )
        # The batch's finished files and cursor moves: one transaction each, not one per file.
        await self.ledger.tasks_done(finished)
        for group in by_group:
            if self.scoring.pending(group) >= self.bootstrap_flush_at:
                await self.flush_bootstrap(group)

    async def flush_bootstrap(self, group: ScoringKey) -> None:
        """Score a bootstrapping kind's buffered images together, store and announce them."""
        notes = len(self.scoring.new_kind_notes)
        scored = await self.scoring.flush(group)
        self.ledger.report.new_kinds.extend(self.scoring.new_kind_notes[notes:])
        if not scored:
            return
        await self.persist.store_scores(scored)
        await self.scoring.fit_after_flush(group)

    async def flush_all(self) -> None:
        """At the end of a cycle: every kind still buffering is scored within itself."""
        for group in self.scoring.groups_with_pending():
            await self.flush_bootstrap(group)
