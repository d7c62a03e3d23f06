"""The first stage: plan each source's tasks for a cycle, then download them for decode.

A source that is down is skipped for the rest of the cycle by every fetch worker once one of
them saw it fail, with its cursor left where it was; an unreadable download is quarantined
(temporarily when the source says so: it is planned again once its retry time comes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from astrolens.domain.errors import (
    SourceUnavailableError,
    TemporarilyUnreadableError,
    UnreadableImageError,
)
from astrolens.domain.events import Event, SourceStatusChanged
from astrolens.domain.ports import ImageSource, Repository
from astrolens.domain.sources import FetchTask, task_from_json
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.stages.handoff import Fetched, FetchedQueue, FetchQueue, TaskTracker
from astrolens.pipeline.stages.ledger import CycleLedger

log = logging.getLogger(__name__)


class FetchStage:
    def __init__(
        self,
        *,
        sources: Sequence[ImageSource],
        repository: Repository,
        executors: Executors,
        ledger: CycleLedger,
        resume: asyncio.Event,
        emit: Callable[[Event], None],
        tasks_per_source: int,
    ) -> None:
        self.sources = sources
        self.repo = repository
        self.ex = executors
        self.ledger = ledger
        self.resume = resume  # cleared while paused
        self.emit = emit
        self.tasks_per_source = tasks_per_source
        # Shared by the cycle's workers: a source one of them found down is not asked again
        # by the others (each kept its own list, so four workers asked it four times).
        self.unavailable: set[str] = set()

    async def plan(self) -> list[tuple[ImageSource, list[FetchTask]]]:
        """Each source's next tasks, less what is already stored, plus its due retries."""
        plans = []
        for source in self.sources:
            try:
                tasks = await source.plan(self.tasks_per_source)
            except SourceUnavailableError as exc:
                log.warning("source %s unavailable: %s", source.id, exc)
                tasks = []
            self.emit(SourceStatusChanged(source.status()))
            fingerprints = {t.uri: t.meta.get("fingerprint") for t in tasks}
            known = await run_in(
                self.ex.db, self.repo.known_uris, [t.uri for t in tasks], fingerprints
            )
            fresh = []
            for task in tasks:
                if task.uri in known:
                    # Stored before a crash that came between storing and moving the cursor.
                    await source.mark_done(task)
                else:
                    fresh.append(task)
            # Temporary failures (a maintenance page, a permission error) whose retry time has
            # come: the source's cursor is past them, so the stored task is fetched again.
            planned = {t.uri for t in fresh}
            for text in await run_in(
                self.ex.db, self.repo.due_retries, source.id, self.tasks_per_source
            ):
                retry = task_from_json(text)
                if retry is not None and retry.uri not in planned:
                    planned.add(retry.uri)
                    fresh.append(retry)
            plans.append((source, fresh))
        return plans

    async def run(self, jobs: FetchQueue, out: FetchedQueue) -> None:
        """A fetch worker: runs until cancelled."""
        report = self.ledger.report
        unavailable = self.unavailable
        while True:
            source, task = await jobs.get()
            try:
                await self.resume.wait()
                if source.id in unavailable:
                    report.unavailable += 1
                    continue
                try:
                    raw = await source.fetch(task)
                except UnreadableImageError as exc:
                    temporary = isinstance(exc, TemporarilyUnreadableError)
                    await self.ledger.quarantine(task, str(exc), temporary=temporary)
                    await self.ledger.task_done(source, task)
                    continue
                except SourceUnavailableError as exc:
                    unavailable.add(source.id)
                    report.unavailable += 1
                    log.warning("source %s unavailable: %s", source.id, exc)
                    self.emit(SourceStatusChanged(source.status()))
                    continue
                report.fetched += 1
                await out.put(Fetched(TaskTracker(source, task), raw))
            finally:
                jobs.task_done()
