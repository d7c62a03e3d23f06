"""The discovery pipeline: sources -> fetch -> decode -> dedupe -> embed -> score -> persist ->
cross-match -> notify, as stage objects (pipeline/stages/) joined by bounded asyncio queues.

Bounded queues give back-pressure: a slow embedder throttles the fetchers instead of letting
downloads pile up in memory. Everything blocking goes through the named executors. A cycle is
one pass over what the sources plan; `run_forever` repeats cycles with an interval. This class
owns the cycle (which stages, how many workers, when it ends) and start/pause/stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from astrolens.domain.errors import StorageFullError
from astrolens.domain.events import (
    CycleFinished,
    CycleStarted,
    Event,
    PipelineState,
    PipelineStateChanged,
    SourceStatusChanged,
    Unusual,
)
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
from astrolens.domain.scoring import not_yet_significant
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.scoring_bank import ScorerFactory, ScoringBank
from astrolens.pipeline.stages.crossmatch_notify import CrossMatchNotifyStage
from astrolens.pipeline.stages.decode import DecodeStage
from astrolens.pipeline.stages.embed_score import EmbedScoreStage
from astrolens.pipeline.stages.fetch import FetchStage
from astrolens.pipeline.stages.handoff import (
    EmbedQueue,
    FetchedQueue,
    FetchJob,
    FetchQueue,
    MatchQueue,
)
from astrolens.pipeline.stages.ledger import CycleLedger, CycleReport, ScoredItem
from astrolens.pipeline.stages.persist import PersistStage

__all__ = ["CycleReport", "DiscoveryPipeline", "PipelineConfig", "ScoredItem"]

log = logging.getLogger(__name__)


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

        cfg = self.config
        ledger = CycleLedger(report, repository=self.repo, executors=self.ex, emit=self._emit)
        fetch = FetchStage(
            sources=self.sources,
            repository=self.repo,
            executors=self.ex,
            ledger=ledger,
            resume=self._resume,
            emit=self._emit,
            tasks_per_source=cfg.tasks_per_source,
        )
        plans = await fetch.plan()
        report.planned = sum(len(tasks) for _, tasks in plans)
        self._emit(CycleStarted(self._cycle, report.planned))
        fetch_q: FetchQueue = asyncio.Queue()
        decode_q: FetchedQueue = asyncio.Queue(cfg.queue_size)
        embed_q: EmbedQueue = asyncio.Queue(cfg.queue_size)
        match_q: MatchQueue = asyncio.Queue()
        for source, tasks in plans:
            for task in tasks:
                fetch_q.put_nowait(FetchJob(source, task))
        decode = DecodeStage(
            decoder=self.decoder,
            repository=self.repo,
            executors=self.ex,
            ledger=ledger,
            resume=self._resume,
        )
        embed = EmbedScoreStage(
            embedder=self.embedder,
            blobs=self.blobs,
            executors=self.ex,
            scoring=self.scoring,
            persist=PersistStage(
                repository=self.repo,
                executors=self.ex,
                model_id=self.embedder.model_id,
                ledger=ledger,
                emit=self._emit,
                matches=match_q,
                index=self.index,
            ),
            ledger=ledger,
            resume=self._resume,
            batch_size=cfg.batch_size,
            batch_wait_s=cfg.batch_wait_s,
            bootstrap_flush_at=cfg.bootstrap_flush_at,
        )

        async with asyncio.TaskGroup() as tg:
            workers = [
                *(
                    tg.create_task(fetch.run(fetch_q, decode_q), name=f"astrolens-fetch-{i}")
                    for i in range(cfg.fetch_workers)
                ),
                *(
                    tg.create_task(decode.run(decode_q, embed_q), name=f"astrolens-decode-{i}")
                    for i in range(cfg.decode_workers)
                ),
                tg.create_task(embed.run(embed_q), name="astrolens-embed"),
                tg.create_task(self.matching.run(match_q), name="astrolens-crossmatch"),
            ]
            await self.matching.enqueue_pending(match_q)
            await fetch_q.join()
            await decode_q.join()
            await embed_q.join()
            await embed.flush_all()
            await self.scoring.settle()
            await match_q.join()
            for worker in workers:
                worker.cancel()
        await self.matching.finish(self.describe(report))
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
            Unusual(s.record.id, s.record.display_name, s.result.score, s.result.p_value)
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

    def describe(self, report: CycleReport) -> str:
        what = self.config.label or ", ".join(source.id for source in self.sources)
        return f"{what} ({report.ingested} new images)"
