"""The store stage, called in line by embed_score: an embedded batch goes into the store in
one transaction (images, vectors, scores, candidates) once its files are written, then each
image is settled: a duplicate the transaction found is a sighting, a stored image moves its
task's cursor, and a score is announced, its candidate sent on to the catalogs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np

from astrolens.domain.candidates import Candidate
from astrolens.domain.embedding import Embedding
from astrolens.domain.errors import StorageFullError
from astrolens.domain.events import CandidateFound, Event, ImageScored
from astrolens.domain.images import ImageRecord
from astrolens.domain.ports import Repository, VectorIndex
from astrolens.domain.scoring import ScoreResult, Verdict
from astrolens.domain.writes import NewImage, StoredImage
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.stages.handoff import (
    EmbedItem,
    MatchQueue,
    MatchRequest,
    ScoredBatch,
    TaskTracker,
)
from astrolens.pipeline.stages.ledger import CycleLedger, ScoredItem


class PersistStage:
    def __init__(
        self,
        *,
        repository: Repository,
        executors: Executors,
        model_id: str,
        ledger: CycleLedger,
        emit: Callable[[Event], None],
        matches: MatchQueue,
        index: VectorIndex | None = None,
    ) -> None:
        self.repo = repository
        self.ex = executors
        self.model_id = model_id
        self.ledger = ledger
        self.emit = emit
        self.matches = matches
        self.index = index

    async def store(self, batch: ScoredBatch) -> list[StoredImage]:
        """Store the batch in one transaction, in its order; one outcome per item."""
        written = await asyncio.gather(*batch.blob_writes, return_exceptions=True)
        for item, outcome in zip(batch.items, written, strict=True):
            if isinstance(outcome, StorageFullError):
                item.tracker.failed = True
        for outcome in written:
            if isinstance(outcome, BaseException):
                raise outcome
        model_id = self.model_id
        new = []
        for item, paths in zip(batch.items, written, strict=True):
            assert item.vector is not None and not isinstance(paths, BaseException)
            embedding = Embedding(model_id, item.vector.astype(np.float32))
            new.append(NewImage(item.image, *paths, embedding, model_id, item.result))
        stored = await run_in(self.ex.db, self.repo.add_scored_images, new)
        if self.index is not None:
            added = [(s.record.id, it.vector) for it, s in zip(batch.items, stored, strict=True)
                     if not s.duplicate and it.vector is not None]  # fmt: skip
            if added:
                ids = [image_id for image_id, _ in added]
                rows = np.stack([vector for _, vector in added])
                await run_in(self.ex.ml, self.index.add, ids, rows)
        return stored

    async def settle(
        self, item: EmbedItem, outcome: StoredImage, finished: list[TaskTracker]
    ) -> bool:
        """After the transaction, one image: True when it is stored without a score (its kind
        is bootstrapping), for the scoring bank to buffer. Its task goes to `finished` when
        this was the task's last image (the caller passes them to `ledger.tasks_done`)."""
        if outcome.duplicate:
            await self.ledger.record_duplicate(outcome.record, item.image, saved=True)
            if self.ledger.finish_one(item.tracker):
                finished.append(item.tracker)
            return False
        self.ledger.report.ingested += 1
        if self.ledger.finish_one(item.tracker):
            finished.append(item.tracker)
        if item.result is None:
            return True
        await self.announce(outcome.record, item.result, outcome.candidate)
        return False

    async def store_scores(self, scored: Sequence[tuple[int, ScoreResult]]) -> None:
        """The scores of a bootstrapping kind's buffered images, in one transaction."""
        stored = await run_in(self.ex.db, self.repo.add_scores, self.model_id, scored)
        results = dict(scored)
        for record, candidate in stored:
            await self.announce(record, results[record.id], candidate)

    async def announce(
        self, record: ImageRecord, result: ScoreResult, candidate: Candidate | None
    ) -> None:
        """Announce a stored score; `candidate` is what the same write made of it."""
        self.ledger.report.scored.append(ScoredItem(record, result))
        self.emit(
            ImageScored(
                record.id, record.provenance.source_id, result.verdict, result.score, result.p_value
            )
        )
        if result.verdict is Verdict.NORMAL or candidate is None:
            return
        self.emit(CandidateFound(candidate))
        await self.matches.put(MatchRequest(candidate, True))
