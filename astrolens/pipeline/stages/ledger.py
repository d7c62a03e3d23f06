"""A cycle's bookkeeping, shared by its stages: the report's counts, quarantine, duplicates,
and moving a source's cursor once every image of a task is stored (or the task rejected)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from astrolens.domain.events import DuplicateSeen, Event, ImageQuarantined, Progress
from astrolens.domain.images import DecodedImage, ImageRecord
from astrolens.domain.ports import ImageSource, Repository
from astrolens.domain.scoring import ScoreResult, Verdict
from astrolens.domain.sources import FetchTask, task_to_json
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.scoring_bank import NewKindNote
from astrolens.pipeline.stages.handoff import TaskTracker

log = logging.getLogger(__name__)


@dataclass
class ScoredItem:
    record: ImageRecord
    result: ScoreResult | None


@dataclass
class CycleReport:
    cycle: int
    planned: int = 0
    fetched: int = 0
    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    unavailable: int = 0
    seconds: float = 0.0
    scored: list[ScoredItem] = field(default_factory=list)
    new_kinds: list[NewKindNote] = field(default_factory=list)  # ranked within the batch

    @property
    def anomalies(self) -> int:
        return sum(1 for s in self.scored if s.result and s.result.verdict is Verdict.ANOMALY)

    @property
    def near_misses(self) -> int:
        return sum(1 for s in self.scored if s.result and s.result.verdict is Verdict.NEAR_MISS)


class CycleLedger:
    def __init__(
        self,
        report: CycleReport,
        *,
        repository: Repository,
        executors: Executors,
        emit: Callable[[Event], None],
    ) -> None:
        self.report = report
        self.repo = repository
        self.ex = executors
        self.emit = emit
        self._done = itertools.count(1)

    async def quarantine(self, task: FetchTask, reason: str, *, temporary: bool = False) -> None:
        self.report.quarantined += 1
        fingerprint = task.meta.get("fingerprint")
        await run_in(
            self.ex.db,
            self.repo.quarantine,
            task.uri,
            reason,
            temporary=temporary,
            fingerprint=fingerprint if isinstance(fingerprint, str) else None,
            task_json=task_to_json(task) if temporary else None,
        )
        self.emit(ImageQuarantined(task.uri, reason))
        later = " (temporary: tried again later)" if temporary else ""
        log.warning("quarantined %s: %s%s", task.uri, reason, later)

    async def record_duplicate(
        self, duplicate: ImageRecord, image: DecodedImage, *, saved: bool = False
    ) -> None:
        """Count and announce a duplicate; `saved`: its sighting is already stored."""
        if duplicate.provenance.uri == image.provenance.uri:
            # The same image read again (a file finished after a crash, or re-queued): it is
            # already stored under this very URI, so it is no sighting of itself.
            return
        self.report.duplicates += 1
        if not saved:
            await run_in(self.ex.db, self.repo.record_sighting, duplicate.id, image.provenance.uri)
        self.emit(DuplicateSeen(duplicate.id, image.provenance.uri))

    @staticmethod
    def finish_one(tracker: TaskTracker) -> bool:
        """One of the task's images is stored (or was a duplicate): True when it was the
        last, and the task is to be passed to `tasks_done`."""
        tracker.remaining -= 1
        return tracker.remaining <= 0 and not tracker.failed

    async def task_done(
        self, source: ImageSource, task: FetchTask, tracker: TaskTracker | None = None
    ) -> None:
        """The task's images are stored (`tracker` given) or it was rejected: move the cursor,
        show progress. Stored: no longer unfinished, no longer quarantined (it was due)."""
        if tracker is not None:
            await self.tasks_done([tracker])
            return
        await source.mark_done(task)
        self.emit(Progress(next(self._done), self.report.planned, "images"))

    async def tasks_done(self, trackers: Sequence[TaskTracker]) -> None:
        """Tasks whose images are all stored (a batch's): no longer unfinished or quarantined,
        in one transaction, then their sources' cursors move. The moves run together, so the
        cursor store writes them in one commit (pipeline/cursors.py); each source updates its
        position in memory, in this order, before it waits for the store."""
        if not trackers:
            return
        await run_in(self.ex.db, self.repo.finish_files, [t.task.uri for t in trackers])
        await asyncio.gather(*(t.source.mark_done(t.task) for t in trackers))
        for _ in trackers:
            self.emit(Progress(next(self._done), self.report.planned, "images"))
