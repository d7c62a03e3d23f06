"""The discovery pipeline: sources -> fetch -> decode -> dedupe -> embed -> score -> persist ->
cross-match -> notify, as bounded asyncio queues with workers per stage.

Bounded queues give back-pressure: a slow embedder throttles the fetchers instead of letting
downloads pile up in memory. Everything blocking goes through the named executors. A cycle is
one pass over what the sources plan; `run_forever` repeats cycles with an interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

import numpy as np

from astrolens.domain.candidates import Candidate
from astrolens.domain.embedding import Embedding
from astrolens.domain.errors import (
    AstroLensError,
    SourceUnavailableError,
    StorageFullError,
    TemporarilyUnreadableError,
    UnreadableImageError,
)
from astrolens.domain.events import (
    CandidateFound,
    CycleFinished,
    CycleStarted,
    DuplicateSeen,
    Event,
    ImageQuarantined,
    ImageScored,
    PipelineState,
    PipelineStateChanged,
    Progress,
    SourceStatusChanged,
    Unusual,
)
from astrolens.domain.images import DecodedImage, ImageRecord, RawImage
from astrolens.domain.lookalike import KIND_KEY
from astrolens.domain.ports import (
    BlobStore,
    CrossMatcher,
    Decoder,
    Embedder,
    EventSink,
    ImageSource,
    Notifier,
    Repository,
    ScorerStore,
    VectorIndex,
)
from astrolens.domain.scoring import ScoreResult, Verdict, not_yet_significant
from astrolens.domain.sources import FetchTask, task_from_json, task_to_json
from astrolens.domain.writes import NewImage, StoredImage
from astrolens.pipeline.crossmatch_notify import CrossMatchNotifyStage
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.scoring_bank import NewKindNote, ScorerFactory, ScoringBank, ScoringKey

log = logging.getLogger(__name__)


def display_name(record: ImageRecord) -> str:
    """A file name a person recognises; a stamp is named after its frame."""
    if record.parent_uri:
        return f"{unquote(record.parent_uri.rsplit('/', 1)[-1])} (stamp)"
    return unquote(record.provenance.uri.rstrip("/").rsplit("/", 1)[-1])


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    tasks_per_source: int = 64
    queue_size: int = 64
    fetch_workers: int = 4
    decode_workers: int = 2
    batch_size: int = 32
    batch_wait_s: float = 0.2
    interval_s: float = 900.0
    min_reference: int = 20
    reference_limit: int = 5000
    refit_every: int = 200
    # A bootstrapping group's first images are scored together (cross-fitted) at the end of
    # the cycle; only vectors are buffered (5 KB each), so a large first scan fits easily.
    bootstrap_flush_at: int = 5000
    crossmatch: bool = True
    notify: bool = True
    stop_timeout_s: float = 10.0
    # With no anomaly in a cycle, its most unusual few go to the review queue anyway
    # (labelled "most unusual so far, not yet significant"): a first run has something to show.
    keep_most_unusual: int = 5
    # What a cycle covers, in words, for its notification ("folder demo"); empty: the ids of
    # the sources.
    label: str = ""


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


@dataclass
class _TaskTracker:
    """Counts a task's images still in flight; the cursor moves only when all are stored."""

    source: ImageSource
    task: FetchTask
    remaining: int = 0
    failed: bool = False
    # The file gives several images, listed as unfinished until the last one is stored.
    multi: bool = False


@dataclass
class _Item:
    tracker: _TaskTracker
    image: DecodedImage
    original: bytes | None
    vector: np.ndarray | None = None


# Candidates waiting for the catalogs, with whether to notify once they are checked.
MatchQueue = asyncio.Queue[tuple[Candidate, bool]]


class DiscoveryPipeline:
    def __init__(
        self,
        *,
        sources: Sequence[ImageSource],
        decoder: Decoder,
        embedder: Embedder,
        scorer_factory: ScorerFactory,
        repository: Repository,
        blobs: BlobStore,
        executors: Executors,
        events: EventSink | None = None,
        crossmatcher: CrossMatcher | None = None,
        notifier: Notifier | None = None,
        index: VectorIndex | None = None,
        config: PipelineConfig | None = None,
        saved_scorers: ScorerStore | None = None,
    ) -> None:
        self.sources = list(sources)
        self.decoder = decoder
        self.embedder = embedder
        self.repo = repository
        self.blobs = blobs
        self.ex = executors
        self.crossmatcher = crossmatcher
        self.notifier = notifier
        self.index = index
        self.config = config or PipelineConfig()
        self._emit_fn = events
        self.scoring = ScoringBank(
            scorer_factory,
            repository,
            executors,
            embedder.model_id,
            min_reference=self.config.min_reference,
            reference_limit=self.config.reference_limit,
            refit_every=self.config.refit_every,
            saved=saved_scorers,
        )
        self._resume = asyncio.Event()
        self._resume.set()
        self._state = PipelineState.STOPPED
        self._cycle = 0
        self._runner: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._calibrate_requested = False
        self._done_counter = itertools.count(1)
        self._planned = 0
        self.matching = CrossMatchNotifyStage(
            repository=repository,
            executors=executors,
            emit=self._emit,
            crossmatcher=crossmatcher,
            notifier=notifier,
            crossmatch=self.config.crossmatch,
            notify=self.config.notify,
        )

    # ------------------------------------------------------------------ control

    @property
    def state(self) -> PipelineState:
        return self._state

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def _set_state(self, state: PipelineState, message: str = "") -> None:
        if state is not self._state:
            self._state = state
            self._emit(PipelineStateChanged(state, message))

    def _emit(self, event: Event) -> None:
        if self._emit_fn is None:
            return
        try:
            self._emit_fn(event)
        except Exception:  # a broken listener must not stop discovery
            log.exception("event listener failed on %r", type(event).__name__)

    def pause(self) -> None:
        """Stop pulling new images within about a batch: fetch, decode and embed each wait
        before taking their next item, so what is queued stays queued (and is stored after
        resume) instead of draining into the store for many seconds after Pause."""
        self._resume.clear()
        self._set_state(PipelineState.PAUSED)

    def resume(self) -> None:
        self._resume.set()
        self._set_state(PipelineState.RUNNING if self._runner else PipelineState.IDLE)
        self._wake.set()

    def request_calibration(self) -> None:
        self._calibrate_requested = True
        self._wake.set()

    def start(self, *, interval_s: float | None = None) -> asyncio.Task[None]:
        """Run cycles forever in a named task owned by the pipeline."""
        if self._runner is not None and not self._runner.done():
            return self._runner
        self._runner = asyncio.create_task(
            self.run_forever(interval_s=interval_s), name="astrolens-discovery-loop"
        )
        return self._runner

    async def stop(self, grace_s: float | None = None) -> None:
        """Cancel the loop and wait for it (bounded), then close the sources."""
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(runner, grace_s or self.config.stop_timeout_s)
        await self.scoring.cancel_refits(grace_s or self.config.stop_timeout_s)
        for source in self.sources:
            with contextlib.suppress(Exception):
                await source.aclose()
        self._set_state(PipelineState.STOPPED)

    async def run_forever(self, *, interval_s: float | None = None) -> None:
        interval = self.config.interval_s if interval_s is None else interval_s
        try:
            while True:
                await self._resume.wait()
                self._set_state(PipelineState.RUNNING)
                try:
                    await self.run_cycle()
                except StorageFullError as exc:
                    # Nothing more can be stored: stop pulling until the user frees space.
                    self._set_state(PipelineState.ERROR, str(exc))
                    self.pause()
                    continue
                if not self.paused:
                    self._set_state(PipelineState.IDLE)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=interval)
        finally:
            self._set_state(PipelineState.STOPPED)

    # ------------------------------------------------------------------ one cycle

    async def run_cycle(self) -> CycleReport:
        self._cycle += 1
        report = CycleReport(cycle=self._cycle)
        started = time.monotonic()
        if self._calibrate_requested:
            self._calibrate_requested = False
            await self.scoring.recalibrate_all()
        await self.scoring.recover_unscored()

        plans = await self._plan_all()
        report.planned = sum(len(tasks) for _, tasks in plans)
        self._emit(CycleStarted(self._cycle, report.planned))
        cfg = self.config
        fetch_q: asyncio.Queue[tuple[ImageSource, FetchTask]] = asyncio.Queue()
        decode_q: asyncio.Queue[tuple[_TaskTracker, RawImage]] = asyncio.Queue(cfg.queue_size)
        embed_q: asyncio.Queue[_Item] = asyncio.Queue(cfg.queue_size)
        match_q: MatchQueue = asyncio.Queue()
        for source, tasks in plans:
            for task in tasks:
                fetch_q.put_nowait((source, task))
        self._done_counter = itertools.count(1)
        self._planned = report.planned

        async with asyncio.TaskGroup() as tg:
            workers = [
                *(
                    tg.create_task(
                        self._fetch_worker(fetch_q, decode_q, report),
                        name=f"astrolens-fetch-{i}",
                    )
                    for i in range(cfg.fetch_workers)
                ),
                *(
                    tg.create_task(
                        self._decode_worker(decode_q, embed_q, report),
                        name=f"astrolens-decode-{i}",
                    )
                    for i in range(cfg.decode_workers)
                ),
                tg.create_task(
                    self._embed_worker(embed_q, match_q, report), name="astrolens-embed"
                ),
                tg.create_task(self._match_worker(match_q), name="astrolens-crossmatch"),
            ]
            await self._enqueue_pending_crossmatches(match_q)
            await fetch_q.join()
            await decode_q.join()
            await embed_q.join()
            for group in self.scoring.groups_with_pending():
                await self._flush_bootstrap(group, match_q, report)
            await self.scoring.settle()
            await match_q.join()
            for worker in workers:
                worker.cancel()
        await self._notify_cycle(report)
        most_unusual = await self._keep_most_unusual(report)

        report.seconds = time.monotonic() - started
        await self._release_memory()
        for source in self.sources:
            self._emit(SourceStatusChanged(source.status()))
        self._emit(
            CycleFinished(
                cycle=self._cycle,
                ingested=report.ingested,
                duplicates=report.duplicates,
                quarantined=report.quarantined,
                anomalies=report.anomalies,
                near_misses=report.near_misses,
                seconds=report.seconds,
                most_unusual=most_unusual,
                significance=self._significance(report) if most_unusual else "",
            )
        )
        return report

    def _significance(self, report: CycleReport) -> str:
        cals = self.scoring.calibrations()
        reference = max((c.reference_size for c in cals), default=report.ingested)
        alpha = cals[0].fdr if cals else 0.05
        return not_yet_significant(reference, alpha)

    async def _keep_most_unusual(self, report: CycleReport) -> tuple[Unusual, ...]:
        if report.anomalies or not self.config.keep_most_unusual:
            return ()
        scored = [s for s in report.scored if s.result is not None]
        # By p-value first: scores of different kinds of image are on different scales, their
        # p-values are not.
        scored.sort(key=lambda s: (s.result.p_value, -s.result.score) if s.result else (1.0, 0.0))
        top = scored[: self.config.keep_most_unusual]
        if not top:
            return ()
        ids = [s.record.id for s in top]
        await run_in(self.ex.db, self.repo.keep_for_review, ids, self.embedder.model_id)
        return tuple(
            Unusual(s.record.id, display_name(s.record), s.result.score, s.result.p_value)
            for s in top
            if s.result is not None
        )

    async def _release_memory(self) -> None:
        """Between cycles the agent idles for minutes: an embedder that can free its runtime's
        buffers (ONNX Runtime's arena) does so, on the thread that embeds. Optional, so not
        part of the Embedder port."""
        release = getattr(self.embedder, "release", None)
        if callable(release):
            await run_in(self.ex.ml, release)

    async def _plan_all(self) -> list[tuple[ImageSource, list[FetchTask]]]:
        plans = []
        for source in self.sources:
            try:
                tasks = await source.plan(self.config.tasks_per_source)
            except SourceUnavailableError as exc:
                log.warning("source %s unavailable: %s", source.id, exc)
                tasks = []
            self._emit(SourceStatusChanged(source.status()))
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
                self.ex.db, self.repo.due_retries, source.id, self.config.tasks_per_source
            ):
                retry = task_from_json(text)
                if retry is not None and retry.uri not in planned:
                    planned.add(retry.uri)
                    fresh.append(retry)
            plans.append((source, fresh))
        return plans

    async def _quarantine(
        self, task: FetchTask, reason: str, report: CycleReport, *, temporary: bool = False
    ) -> None:
        report.quarantined += 1
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
        self._emit(ImageQuarantined(task.uri, reason))
        later = " (temporary: tried again later)" if temporary else ""
        log.warning("quarantined %s: %s%s", task.uri, reason, later)

    async def _fetch_worker(
        self,
        fetch_q: asyncio.Queue[tuple[ImageSource, FetchTask]],
        decode_q: asyncio.Queue[tuple[_TaskTracker, RawImage]],
        report: CycleReport,
    ) -> None:
        unavailable: set[str] = set()
        while True:
            source, task = await fetch_q.get()
            try:
                await self._resume.wait()
                if source.id in unavailable:
                    report.unavailable += 1
                    continue
                try:
                    raw = await source.fetch(task)
                except UnreadableImageError as exc:
                    temporary = isinstance(exc, TemporarilyUnreadableError)
                    await self._quarantine(task, str(exc), report, temporary=temporary)
                    await self._task_done(source, task)
                    continue
                except SourceUnavailableError as exc:
                    unavailable.add(source.id)
                    report.unavailable += 1
                    log.warning("source %s unavailable: %s", source.id, exc)
                    self._emit(SourceStatusChanged(source.status()))
                    continue
                report.fetched += 1
                await decode_q.put((_TaskTracker(source, task), raw))
            finally:
                fetch_q.task_done()

    async def _decode_worker(
        self,
        decode_q: asyncio.Queue[tuple[_TaskTracker, RawImage]],
        embed_q: asyncio.Queue[_Item],
        report: CycleReport,
    ) -> None:
        while True:
            tracker, raw = await decode_q.get()
            try:
                await self._resume.wait()
                try:
                    images = await run_in(self.ex.io, self.decoder.decode, raw)
                except UnreadableImageError as exc:
                    temporary = isinstance(exc, TemporarilyUnreadableError)
                    await self._quarantine(tracker.task, str(exc), report, temporary=temporary)
                    await self._task_done(tracker.source, tracker.task)
                    continue
                except Exception as exc:  # a decoder bug must not kill the cycle
                    log.exception("decoder failed on %s", raw.provenance.uri)
                    await self._quarantine(tracker.task, f"decoder error: {exc}", report)
                    await self._task_done(tracker.source, tracker.task)
                    continue
                if len(images) > 1:
                    # A frame and its stamps: the file is done only when the last is stored.
                    tracker.multi = True
                    await run_in(self.ex.db, self.repo.begin_file, tracker.task.uri)
                fresh = []
                # One trip to the db thread for the whole frame; repeats within the cycle
                # are caught again, for free, by the batch's own transaction.
                duplicates = await run_in(self.ex.db, self.repo.find_duplicates, images)
                for image, duplicate in zip(images, duplicates, strict=True):
                    if duplicate is None:
                        fresh.append(image)
                    else:
                        await self._record_duplicate(duplicate, image, report)
                if not fresh:
                    await self._task_done(tracker.source, tracker.task, tracker)
                    continue
                tracker.remaining = len(fresh)
                for image in fresh:
                    original = raw.data if image.parent_uri is None and not raw.companions else None
                    await embed_q.put(_Item(tracker, image, original))
            finally:
                decode_q.task_done()

    async def _record_duplicate(
        self,
        duplicate: ImageRecord,
        image: DecodedImage,
        report: CycleReport,
        *,
        saved: bool = False,
    ) -> None:
        """Count and announce a duplicate; `saved`: its sighting is already stored."""
        if duplicate.provenance.uri == image.provenance.uri:
            # The same image read again (a file finished after a crash, or re-queued): it is
            # already stored under this very URI, so it is no sighting of itself.
            return
        report.duplicates += 1
        if not saved:
            await run_in(self.ex.db, self.repo.record_sighting, duplicate.id, image.provenance.uri)
        self._emit(DuplicateSeen(duplicate.id, image.provenance.uri))

    async def _next_batch(self, embed_q: asyncio.Queue[_Item]) -> list[_Item]:
        batch = [await embed_q.get()]
        deadline = time.monotonic() + self.config.batch_wait_s
        while len(batch) < self.config.batch_size:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(embed_q.get(), timeout))
            except TimeoutError:
                break
        return batch

    async def _embed_worker(
        self,
        embed_q: asyncio.Queue[_Item],
        match_q: MatchQueue,
        report: CycleReport,
    ) -> None:
        while True:
            batch = await self._next_batch(embed_q)
            try:
                await self._resume.wait()
                await self._process_batch(batch, match_q, report)
            finally:
                for _ in batch:
                    embed_q.task_done()

    async def _process_batch(
        self,
        batch: list[_Item],
        match_q: MatchQueue,
        report: CycleReport,
    ) -> None:
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
        await self._resume.wait()
        # Judged per kind of image (domain/lookalike.py), not only per group: a new survey's
        # cutouts are not flagged wholesale against another survey's reference.
        by_group: dict[ScoringKey, list[_Item]] = {}
        for item in batch:
            kind = item.image.provenance.extra.get(KIND_KEY)
            key = (item.image.group, kind if isinstance(kind, str) else None)
            by_group.setdefault(key, []).append(item)
        results: dict[int, ScoreResult | None] = {}
        stacked: dict[ScoringKey, np.ndarray] = {}
        for group, items in by_group.items():
            stacked[group] = np.stack([it.vector for it in items if it.vector is not None])
            scored = await self.scoring.score(group, stacked[group])
            for i, item in enumerate(items):
                results[id(item)] = scored[i] if scored is not None else None
        await self._resume.wait()  # paused while scoring: hold the batch's one transaction
        stored = await self._persist(batch, blob_writes, results)
        for group, items in by_group.items():
            for i, item in enumerate(items):
                outcome = stored[id(item)]
                if outcome.duplicate:
                    await self._record_duplicate(outcome.record, item.image, report, saved=True)
                    await self._finish_one(item.tracker)
                    continue
                report.ingested += 1
                await self._finish_one(item.tracker)
                result = results[id(item)]
                if result is None:
                    self.scoring.defer(
                        group, outcome.record.id, stacked[group][i], outcome.record.content_hash
                    )
                else:
                    await self._after_scored(
                        outcome.record, result, outcome.candidate, match_q, report
                    )
            if self.scoring.pending(group) >= self.config.bootstrap_flush_at:
                await self._flush_bootstrap(group, match_q, report)

    async def _persist(
        self,
        batch: list[_Item],
        blob_writes: Sequence[asyncio.Future[tuple[str, str]]],
        results: dict[int, ScoreResult | None],
    ) -> dict[int, StoredImage]:
        """Store the batch (images, vectors, scores, candidates) in one transaction."""
        written = await asyncio.gather(*blob_writes, return_exceptions=True)
        for item, outcome in zip(batch, written, strict=True):
            if isinstance(outcome, StorageFullError):
                item.tracker.failed = True
        for outcome in written:
            if isinstance(outcome, BaseException):
                raise outcome
        model_id = self.embedder.model_id
        new = []
        for item, paths in zip(batch, written, strict=True):
            assert item.vector is not None and not isinstance(paths, BaseException)
            embedding = Embedding(model_id, item.vector.astype(np.float32))
            new.append(NewImage(item.image, *paths, embedding, model_id, results[id(item)]))
        stored = await run_in(self.ex.db, self.repo.add_scored_images, new)
        if self.index is not None:
            added = [(s.record.id, it.vector) for it, s in zip(batch, stored, strict=True)
                     if not s.duplicate and it.vector is not None]  # fmt: skip
            if added:
                ids = [image_id for image_id, _ in added]
                rows = np.stack([vector for _, vector in added])
                await run_in(self.ex.ml, self.index.add, ids, rows)
        return {id(item): s for item, s in zip(batch, stored, strict=True)}

    async def _finish_one(self, tracker: _TaskTracker) -> None:
        tracker.remaining -= 1
        if tracker.remaining <= 0 and not tracker.failed:
            await self._task_done(tracker.source, tracker.task, tracker)

    async def _task_done(
        self, source: ImageSource, task: FetchTask, tracker: _TaskTracker | None = None
    ) -> None:
        """The task's images are stored (`tracker` given) or it was rejected: move the cursor,
        show progress. Stored: no longer unfinished, no longer quarantined (it was due)."""
        if tracker is not None:
            await run_in(self.ex.db, self.repo.finish_file, task.uri)
        await source.mark_done(task)
        self._emit(Progress(next(self._done_counter), self._planned, "images"))

    async def _after_scored(
        self,
        record: ImageRecord,
        result: ScoreResult,
        candidate: Candidate | None,
        match_q: MatchQueue,
        report: CycleReport,
    ) -> None:
        """Announce a stored score; `candidate` is what the same write made of it."""
        report.scored.append(ScoredItem(record, result))
        self._emit(
            ImageScored(
                record.id, record.provenance.source_id, result.verdict, result.score, result.p_value
            )
        )
        if result.verdict is Verdict.NORMAL or candidate is None:
            return
        self._emit(CandidateFound(candidate))
        await match_q.put((candidate, True))

    async def _flush_bootstrap(
        self, group: ScoringKey, match_q: MatchQueue, report: CycleReport
    ) -> None:
        notes = len(self.scoring.new_kind_notes)
        scored = await self.scoring.flush(group)
        report.new_kinds.extend(self.scoring.new_kind_notes[notes:])
        if not scored:
            return
        stored = await run_in(self.ex.db, self.repo.add_scores, self.embedder.model_id, scored)
        results = dict(scored)
        for record, candidate in stored:
            await self._after_scored(record, results[record.id], candidate, match_q, report)
        await self.scoring.fit_after_flush(group)

    # ------------------------------------------------------------ cross-match, notify

    async def _enqueue_pending_crossmatches(self, match_q: MatchQueue) -> None:
        if self.crossmatcher is None or not self.config.crossmatch:
            return
        # Retries of earlier failures: the user was notified (or not) when they were found.
        for candidate in await run_in(self.ex.db, self.repo.pending_crossmatches, 200):
            await match_q.put((candidate, False))

    async def _match_worker(self, match_q: MatchQueue) -> None:
        while True:
            candidate, notify = await match_q.get()
            try:
                await self._crossmatch_and_notify(candidate, notify=notify)
            except AstroLensError as exc:
                log.warning("cross-match of %d failed: %s", candidate.id, exc)
            except Exception:
                log.exception("cross-match of %d failed", candidate.id)
            finally:
                match_q.task_done()

    async def _crossmatch_and_notify(self, candidate: Candidate, *, notify: bool) -> None:
        await self.matching.check(candidate, notify=notify)

    def describe(self, report: CycleReport) -> str:
        what = self.config.label or ", ".join(source.id for source in self.sources)
        return f"{what} ({report.ingested} new images)"

    async def _notify_cycle(self, report: CycleReport) -> None:
        await self.matching.finish(self.describe(report))
