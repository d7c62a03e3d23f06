"""The running agent behind the desktop UI: implements `AgentController` over the app.

It owns the discovery pipeline of the enabled sources, one-off folder scans, the FAISS index
for "more like this", and fans pipeline events out to UI subscribers. Every blocking call goes
through the app's named executors, so awaiting these methods never freezes the Qt loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from astrolens.app.context import AstroLensApp
from astrolens.domain.agent import AgentController, AgentStats, CandidateQuery, SecretsStatus
from astrolens.domain.annotation import Annotation
from astrolens.domain.candidates import Candidate
from astrolens.domain.display import DisplayImage, DisplayLimits, DisplayStretch
from astrolens.domain.events import (
    AnnotationAdded,
    CandidateFound,
    CatalogChecked,
    CycleFinished,
    Event,
    LabelAdded,
    PipelineState,
    PipelineStateChanged,
    Progress,
    ScanFinished,
    ScanProgress,
    SourceStatusChanged,
)
from astrolens.domain.images import ImageGroup, ImageRecord
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.learning import HeadPrediction, TrainingRequest
from astrolens.domain.ports import Repository, ScoreStore
from astrolens.domain.records import CandidateFilter as StoreFilter
from astrolens.domain.records import CandidateOrder, LabelState, TrainingRun
from astrolens.domain.scoring import Calibration, Verdict
from astrolens.domain.settings import Settings
from astrolens.domain.sources import SourceStatus
from astrolens.pipeline.discovery import DiscoveryPipeline, PipelineConfig
from astrolens.pipeline.executors import run_in
from astrolens.pipeline.stages.crossmatch_notify import CrossMatchNotifyStage

if TYPE_CHECKING:
    from astrolens.imaging.display import DisplayRenderer
    from astrolens.ml.index.faiss_index import FaissIndex
    from astrolens.services.learning import LearningService
    from astrolens.services.toolbox import ToolboxService

T = TypeVar("T")

log = logging.getLogger(__name__)

_ORDER = {
    "score": CandidateOrder.SCORE,
    "rank": CandidateOrder.RANK_SCORE,
    "newest": CandidateOrder.NEWEST,
}


def _latest_calibration(r: ScoreStore, *, model_id: str, group: ImageGroup) -> Calibration | None:
    return r.latest_calibration(model_id, group)


def to_store_filter(query: CandidateQuery) -> StoreFilter:
    if query.labelled is None:
        label_state = LabelState.ANY
    else:
        label_state = LabelState.LABELLED if query.labelled else LabelState.UNLABELLED
    return StoreFilter(
        verdicts=tuple(query.verdicts),
        source_id=query.source_id,
        label_state=label_state,
        catalog_verdicts=(query.catalog_verdict,) if query.catalog_verdict else (),
        order=_ORDER.get(query.order_by, CandidateOrder.SCORE),
    )


async def render_png(
    controller: AgentController,
    image_id: int,
    stretch: str,
    max_px: int | None,
    executor: Executor,
) -> bytes | None:
    """The same rendering the window shows (`display_image`), as PNG bytes (encoded on
    `executor`, off the loop)."""
    from astrolens.domain.display import NAMED_STRETCHES
    from astrolens.imaging.display import png_bytes

    chosen, limits = NAMED_STRETCHES[stretch]
    shown = await controller.display_image(image_id, chosen, limits, max_px or 0)
    if shown is None:
        return None
    return await run_in(executor, png_bytes, shown)


class AgentRuntime:
    """`AgentController` and `LearningController` for the tray app."""

    def __init__(self, app: AstroLensApp) -> None:
        self.app = app
        self._listeners: list[Callable[[Event], None]] = []
        self._pipeline: DiscoveryPipeline | None = None
        self._scans: set[asyncio.Task[Any]] = set()
        # Folder scans run their own pipelines; Pause must reach them too.
        self._scan_pipelines: set[DiscoveryPipeline] = set()
        self._source_status: dict[str, SourceStatus] = {}
        self._index: FaissIndex | None = None
        self._index_lock = asyncio.Lock()
        self._paused = False
        self._quiet = False
        self._learning: LearningService | None = None  # built on first use (imports sklearn)
        self._rerank_task: asyncio.Task[int] | None = None
        self._reembed_task: asyncio.Task[None] | None = None
        self._renderer: DisplayRenderer | None = None  # built on first use
        self._toolbox: ToolboxService | None = None  # built on first use
        self._schemas_checked = False

    # ------------------------------------------------------------------ events

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: Event) -> None:
        """The pipeline's event sink: record, then fan out to every subscriber."""
        self._emit(event)

    def _emit(self, event: Event) -> None:
        if isinstance(event, SourceStatusChanged):
            self._source_status[event.status.source_id] = event.status
        elif isinstance(event, CycleFinished):
            self._release_memory()
        elif isinstance(event, CandidateFound) and self._learning is not None:
            # once the user has taught the ranking, new candidates are ranked as they come
            self._schedule_rerank()
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("UI listener failed")

    def _release_memory(self) -> None:
        """A scan or cycle ended: hand its freed buffers back to the system (the idle agent
        was 950 MB resident after one scan; see benchmarks/agent_memory.py)."""
        from astrolens.app.memory import release_freed_memory

        loop = asyncio.get_running_loop()
        task = loop.create_task(
            run_in(self.app.executors.io, release_freed_memory), name="astrolens-release-memory"
        )
        self._scans.add(task)
        task.add_done_callback(self._scans.discard)

    # ------------------------------------------------------------------ control

    def start(self, pipeline: DiscoveryPipeline | None = None) -> None:
        """Build the pipeline of the enabled sources (or adopt `pipeline`, built with
        `events=self.emit`) and run it (a named, owned task)."""
        if pipeline is not None and self._pipeline is None:
            self._pipeline = pipeline
        if self._pipeline is None:
            self._pipeline = self.app.pipeline(
                self.app.enabled_sources(), events=self._from_pipeline
            )
        if self._paused:
            self._pipeline.pause()
        self._pipeline.start()
        if self._reembed_task is None:
            self._start_reembed()
        self._check_catalog_schemas()

    def _check_catalog_schemas(self) -> None:
        """Once, in the background: a catalog whose service renamed a column we read is
        disabled and logged, and its answers say 'disabled: schema mismatch ...', instead of
        reading as 'no match'. A service that cannot be reached stays enabled (down is not
        changed), so the check is honest offline too."""
        check = getattr(self.app.crossmatcher, "check_schemas", None)
        if self._schemas_checked or check is None:
            return
        self._schemas_checked = True
        task = asyncio.get_running_loop().create_task(check(), name="astrolens-schema-check")
        self._scans.add(task)
        task.add_done_callback(self._scans.discard)

    @property
    def state(self) -> PipelineState:
        if self._paused:
            return PipelineState.PAUSED
        if self._scan_pipelines:
            return PipelineState.RUNNING  # a folder scan runs, whatever the loop does
        if self._pipeline is None:
            return PipelineState.STOPPED
        return self._pipeline.state

    def pause(self) -> None:
        """No new image is pulled, by the discovery loop or by a running folder scan."""
        before = self.state
        self._paused = True
        self._quiet = True  # the pipelines' own state events: the agent says it once below
        try:
            for pipeline in self._running_pipelines():
                pipeline.pause()
        finally:
            self._quiet = False
        if before is not PipelineState.PAUSED:
            # Said once by the agent, whichever pipelines run (none, the loop, scans).
            self._emit(PipelineStateChanged(PipelineState.PAUSED))

    def resume(self) -> None:
        """Everything paused goes on where it stopped (queued files stay queued)."""
        before = self.state
        self._paused = False
        self._quiet = True
        try:
            for pipeline in self._running_pipelines():
                pipeline.resume()
        finally:
            self._quiet = False
        if self.state is not before:
            self._emit(PipelineStateChanged(self.state))

    def _running_pipelines(self) -> list[DiscoveryPipeline]:
        loop = [self._pipeline] if self._pipeline is not None else []
        return [*loop, *self._scan_pipelines]

    def _from_pipeline(self, event: Event) -> None:
        """The pipelines' own state changes: the agent's state is said by the agent (pause,
        resume) so that a UI sees one PAUSED per Pause, not one per pipeline."""
        if isinstance(event, PipelineStateChanged) and event.state is PipelineState.PAUSED:
            return
        if isinstance(event, PipelineStateChanged) and (self._paused or self._quiet):
            return
        self._emit(event)

    def request_calibration(self) -> None:
        if self._pipeline is not None:
            self._pipeline.request_calibration()

    def scan_folder(self, path: Path) -> None:
        """Scan the whole folder once (no per-cycle cap: the tray stored 64 of 365 files with
        the loop's cap), saying "Scanning n/N" as it goes and a summary at the end."""
        what = f"folder {path.name}"
        total = 0

        def on_event(event: Event) -> None:
            nonlocal total
            if isinstance(event, Progress):
                total = event.total
                self._emit(event)
                self._emit(ScanProgress(what, event.done, event.total))
            elif isinstance(event, CycleFinished):
                self._emit(event)
                self._emit(
                    ScanFinished(
                        what,
                        total,
                        event.ingested,
                        event.duplicates,
                        event.quarantined,
                        event.anomalies,
                        event.near_misses,
                        event.seconds,
                        most_unusual=event.most_unusual,
                        significance=event.significance,
                    )
                )
            elif not isinstance(event, PipelineStateChanged):
                # the scan pipeline's own states (paused, stopped when it ends) are not the
                # agent's: the agent says its state itself
                self._emit(event)

        config = PipelineConfig(
            tasks_per_source=10**9, interval_s=self.app.settings.interval_s, label=what
        )

        def build() -> DiscoveryPipeline:
            # The scorer is made on the loop when the first batch arrives; import its
            # modules (scipy, sklearn: a second or more) here instead.
            import astrolens.ml.scoring.ensemble  # noqa: F401

            source = self.app.folder_source([path], name=path.name)
            return self.app.pipeline([source], on_event, config)

        self._emit(ScanProgress(what, 0, 0))
        if not self._paused:
            self._emit(PipelineStateChanged(PipelineState.RUNNING, f"scanning {what}"))

        async def scan() -> None:
            completed = False
            pipeline: DiscoveryPipeline | None = None
            try:
                # Building loads the embedder (an ONNX/torch model) and waits on the db
                # thread: seconds that used to freeze the loop (10 s seen while the API was
                # busy).
                pipeline = await run_in(self.app.executors.io, build)
                if self._paused:
                    pipeline.pause()
                self._scan_pipelines.add(pipeline)
                await pipeline.run_cycle()
                completed = True
            finally:
                if pipeline is not None:
                    self._scan_pipelines.discard(pipeline)
                    await pipeline.stop()
                if not completed:
                    self._emit(ScanFinished(what, total, 0, 0, 0, 0, 0, 0.0, completed=False))
                if not self._paused:
                    self._emit(PipelineStateChanged(self.state))

        task = asyncio.get_running_loop().create_task(scan(), name=f"astrolens-scan-{path.name}")
        self._scans.add(task)
        task.add_done_callback(self._scans.discard)

    # ------------------------------------------------------------------ data

    async def _db(self, fn: Callable[[Repository], T]) -> T:
        # The repository is opened (lazily) and used only on the db thread.
        return await run_in(self.app.executors.db, lambda: fn(self.app.repository))

    async def stats(self) -> AgentStats:
        s = await self._db(lambda r: r.stats())
        unlabelled_anomalies = StoreFilter(
            verdicts=(Verdict.ANOMALY,), label_state=LabelState.UNLABELLED
        )
        unlabelled = await self._db(lambda r: r.count_candidates(unlabelled_anomalies))
        active = [st.source_id for st in self._source_status.values() if st.state.value == "active"]
        model_id = self.app.embedder.model_id
        calibrations = []
        for group in ImageGroup:
            cal = await self._db(
                functools.partial(_latest_calibration, model_id=model_id, group=group)
            )
            if cal is not None:
                calibrations.append(cal)
        recent = await self._db(lambda r: r.recent_scores(model_id, 500))
        hourly = await self._db(lambda r: r.hourly_counts(24))
        # Groups still bootstrapping judge with no anomaly cut (p <= 0) and p-values against
        # each other: the p-value histogram and its lines are the calibrated judgements only,
        # or bars would sit in the near-miss band while the image was judged normal.
        calibrated = [r for r in recent if r.thresholds and r.thresholds.anomaly_p > 0]
        judged = [r.thresholds for r in calibrated if r.thresholds is not None]
        cuts = [t.anomaly_p for t in judged]
        return AgentStats(
            images_total=s.images,
            images_today=s.today,
            anomalies=s.by_verdict.get(Verdict.ANOMALY, 0),
            near_misses=s.by_verdict.get(Verdict.NEAR_MISS, 0),
            unlabelled_anomalies=unlabelled,
            current_source=active[0] if active else None,
            state=self.state,
            sources=tuple(self._source_status.values()),
            calibrations=tuple(calibrations),
            # from the store, oldest first: the same after a restart as before it
            recent_scores=tuple(res.score for res in reversed(recent)),
            recent_p_values=tuple(res.p_value for res in reversed(calibrated)),
            hourly_counts=tuple(hourly),
            thresholds_in_use=judged[0] if judged else None,
            anomaly_cut_range=(min(cuts), max(cuts)) if cuts else None,
            ranked_within_batch=sum(
                1
                for r in recent
                if r.verdict is Verdict.NEAR_MISS
                and (
                    r.thresholds is None
                    or r.thresholds.anomaly_p <= 0
                    or r.p_value <= r.thresholds.anomaly_p
                )
            ),
        )

    async def candidates(self, query: CandidateQuery) -> list[Candidate]:
        flt = to_store_filter(query)
        found: list[Candidate] = await self._db(
            lambda r: r.query_candidates(flt, query.limit, query.offset)
        )
        if query.since is not None:
            found = [c for c in found if c.image.created_at >= query.since.replace(tzinfo=None)]
        return found

    async def count_candidates(self, query: CandidateQuery) -> int:
        flt = to_store_filter(query)
        return int(await self._db(lambda r: r.count_candidates(flt)))

    async def get_candidate(self, image_id: int) -> Candidate | None:
        return await self._db(lambda r: r.get_candidate(image_id))

    async def image_path(self, image_id: int) -> Path | None:
        record = await self._db(lambda r: r.get_image(image_id))
        if record is None or not record.image_path:
            return None
        path = Path(record.image_path)
        exists = await run_in(self.app.executors.io, path.exists)
        return path if exists else None

    async def display_image(
        self,
        image_id: int,
        stretch: DisplayStretch | None = None,
        limits: DisplayLimits | None = None,
        max_side: int = 0,
    ) -> DisplayImage | None:
        record = await self._db(lambda r: r.get_image(image_id))
        if record is None or not (stored := record.image_path or record.thumbnail_path):
            return None
        from astrolens.imaging.display import DisplayRenderer
        from astrolens.store.blobs import THUMBNAIL_MAX_PX

        if self._renderer is None:
            self._renderer = DisplayRenderer()
        path = Path(stored)
        thumb = Path(record.thumbnail_path) if record.thumbnail_path else None
        # A small default picture comes from the stored 8-bit thumbnail: a gallery page paints
        # dozens, and parsing each FITS frame for a 128 px tile would be wasted work.
        small = 0 < max_side <= THUMBNAIL_MAX_PX and stretch is None and limits is None
        if small and thumb is not None and await run_in(self.app.executors.io, thumb.exists):
            path = thumb
        shown: DisplayImage = await run_in(
            self.app.executors.io, self._renderer.render, path, stretch, limits, max_side
        )
        return shown

    async def _ensure_index(self) -> FaissIndex:
        async with self._index_lock:
            if self._index is None:
                from astrolens.ml.index.faiss_index import FaissIndex

                embedder = self.app.embedder
                ids, vectors = await self._db(lambda r: r.embeddings(embedder.model_id))
                index = FaissIndex(embedder.model_id, embedder.dim)
                if len(ids):
                    await run_in(self.app.executors.ml, index.add, ids, vectors)
                self._index = index
            return self._index

    async def neighbours(self, image_id: int, k: int = 8) -> list[Candidate]:
        embedder = self.app.embedder
        vector = await self._db(lambda r: r.embedding_vector(image_id, embedder.model_id))
        if vector is None:
            return []
        index = await self._ensure_index()
        _dist, ids = await run_in(self.app.executors.ml, index.search, vector[None, :], k + 1)
        found = []
        for nid in np.asarray(ids).ravel().tolist():
            if nid < 0 or nid == image_id:
                continue
            cand = await self.get_candidate(int(nid))
            if cand is not None:
                found.append(cand)
        return found[:k]

    async def label(
        self, image_id: int, value: LabelValue, note: str = "", origin: str = "ui"
    ) -> None:
        from datetime import UTC, datetime

        label = Label(
            image_id, value, author="user", created_at=datetime.now(UTC), note=note, origin=origin
        )
        await self._db(lambda r: r.add_label(label))
        self._emit(LabelAdded(label))
        # The label changes the ranking at once: the next candidates shown reflect it.
        try:
            await self.rerank()
        except Exception:
            log.exception("re-ranking after a label failed; the label is saved")

    # ------------------------------------------------------------------ API reads

    async def images(
        self, limit: int = 50, after_id: int = 0, source_id: str | None = None
    ) -> list[ImageRecord]:
        return await self._db(lambda r: r.list_images(limit, after_id, source_id))

    async def get_image(self, image_id: int) -> ImageRecord | None:
        return await self._db(lambda r: r.get_image(image_id))

    async def image_png(
        self, image_id: int, stretch: str = "auto", max_px: int | None = None
    ) -> bytes | None:
        return await render_png(self, image_id, stretch, max_px, self.app.executors.io)

    async def thumbnail_png(self, image_id: int) -> bytes | None:
        record = await self.get_image(image_id)
        if record is None:
            return None
        thumb = Path(record.thumbnail_path) if record.thumbnail_path else None

        def read() -> bytes | None:
            from astrolens.store.blobs import as_png

            return as_png(thumb.read_bytes()) if thumb is not None and thumb.exists() else None

        stored = await run_in(self.app.executors.io, read)
        # an image stored before thumbnails existed: render one
        return stored if stored is not None else await self.image_png(image_id, max_px=256)

    async def crossref_summary(self) -> dict[str, Any]:
        from astrolens.catalogs.report import summarise

        found = await self._db(
            lambda r: r.candidates(verdicts=(Verdict.ANOMALY, Verdict.NEAR_MISS), limit=1_000_000)
        )
        return summarise(c.crossmatches for c in found if c.crossmatches)

    # ------------------------------------------------------------------ LLM annotations

    async def annotate(
        self, image_id: int, provider: str | None = None, model: str | None = None
    ) -> Annotation:
        from astrolens.services.annotator import annotate_candidate

        annotation = await annotate_candidate(self, self.app, image_id, provider, model)
        stored: Annotation = await self._db(lambda r: r.add_annotation(annotation))
        self._emit(AnnotationAdded(stored))
        return stored

    async def annotations(self, image_id: int) -> list[Annotation]:
        return await self._db(lambda r: r.annotations(image_id))

    @property
    def toolbox(self) -> ToolboxService:
        """Export, SAMP and fresh cutouts for the window (astrolens/services/toolbox.py)."""
        if self._toolbox is None:
            from astrolens.services.toolbox import ToolboxService

            self._toolbox = ToolboxService(self.app)
        return self._toolbox

    # ------------------------------------------------------------------ learning

    @property
    def learning(self) -> LearningService:
        if self._learning is None:
            from astrolens.services.learning import LearningService

            self._learning = LearningService(self.app, self._emit)
        return self._learning

    async def rerank(self) -> int:
        return int(await self.learning.rerank())

    def _schedule_rerank(self) -> None:
        if self._rerank_task is None or self._rerank_task.done():
            loop = asyncio.get_running_loop()
            self._rerank_task = loop.create_task(self.rerank(), name="astrolens-rerank")

    async def label_next(self, n: int = 10) -> list[Candidate]:
        ids = await self.learning.label_next(n)
        found = [await self.get_candidate(i) for i in ids]
        return [c for c in found if c is not None]

    def train(self, request: TrainingRequest) -> None:
        task = self.learning.train(request)
        task.add_done_callback(self._after_training)

    def _after_training(self, task: asyncio.Task[TrainingRun]) -> None:
        """A promoted head changes the ranking: re-score the queue with it now."""
        if task.cancelled() or task.exception() is not None:
            return  # the run is recorded as failed; the current model stays
        run = task.result()
        if run.new_model is not None:
            # a fine-tuned backbone won: switch to it (re-embeds the archive, then re-ranks)
            settings = dataclasses.replace(self.app.settings, model=run.new_model)
            switch = asyncio.get_running_loop().create_task(
                self.save_settings(settings), name="astrolens-switch-model"
            )
            self._scans.add(switch)
            switch.add_done_callback(self._scans.discard)
        elif run.promoted:
            self._schedule_rerank()

    def cancel_training(self) -> None:
        if self._learning is not None:
            self._learning.runner.cancel()

    @property
    def training_active(self) -> bool:
        return self._learning is not None and bool(self._learning.runner.active)

    async def training_runs(self) -> list[TrainingRun]:
        return await self._db(lambda r: r.training_runs())

    async def predictions(self, image_id: int) -> list[HeadPrediction]:
        found: list[HeadPrediction] = await self.learning.predictions(image_id)
        return found

    async def retry_crossmatch(self, image_id: int) -> None:
        """Ask the catalogs again. Emits CatalogChecked(PENDING) when it asks, then the new
        verdict; with nothing to ask (no sky position, catalogs off) the verdict as it is."""
        crossmatcher = self.app.crossmatcher
        candidate = await self.get_candidate(image_id)
        if candidate is None:
            return
        if crossmatcher is None or candidate.image.provenance.sky is None:
            self._emit(CatalogChecked(image_id, candidate.catalog_verdict, candidate))
            return
        from astrolens.domain.crossmatch import CatalogVerdict

        self._emit(CatalogChecked(image_id, CatalogVerdict.PENDING))
        # The pipeline's own cross-match stage: the same radius, query and one-transaction
        # save. It emits CatalogChecked with the stored verdict, on which the window refreshes
        # the candidate (without it a retry changed the store and the view never showed it).
        stage = CrossMatchNotifyStage(
            repository=await self._db(lambda r: r),  # opened on the db thread
            executors=self.app.executors,
            emit=self._emit,
            crossmatcher=crossmatcher,
        )
        await stage.ask(candidate)

    # ------------------------------------------------------------------ settings

    def settings(self) -> Settings:
        return self.app.settings

    def data_folder(self) -> Path:
        return Path(self.app.paths.data_dir)

    async def save_settings(self, settings: Settings) -> None:
        from astrolens.settings.store import save_settings

        await run_in(self.app.executors.io, save_settings, settings, self.app.paths.settings_file)
        model_changed = settings.model != self.app.settings.model
        self.app.settings = settings
        if model_changed:
            await self._switch_model()

    async def _switch_model(self) -> None:
        """A new backbone: new vectors for the whole archive, never mixed with the old.

        Discovery restarts on the new model (its groups bootstrap until they have a reference)
        while the archive is re-embedded in the background; then the thresholds recalibrate.
        """
        running = self._pipeline is not None
        if running:
            assert self._pipeline is not None
            await self._pipeline.stop()
            self._pipeline = None
        self.app.__dict__.pop("embedder", None)  # the cached_property builds the new one
        self._index = None
        if self._learning is not None:
            learning, self._learning = self._learning, None
            await asyncio.get_running_loop().run_in_executor(None, learning.close)
        if running:
            self.start()
        self._start_reembed()

    def _start_reembed(self) -> None:
        """Embed, in the background, every stored image that lacks a vector of the current
        model: after a switch, or at start when the model changed while the agent was off
        (e.g. `astrolens train --blocks` promoted a backbone). Then measure the photometry
        the queue lacks. With nothing missing it is two queries."""
        if self._reembed_task is not None and not self._reembed_task.done():
            self._reembed_task.cancel()  # a newer model supersedes it
        reembedder = self.learning.reembedder()

        async def reembed() -> None:
            done = await reembedder.run()
            if done:
                log.info("re-embedded %d stored images with %s", done, reembedder.model_id)
                self.request_calibration()
            measured = await self.learning.catch_up_photometry()
            if done or measured:
                await self.rerank()

        task = asyncio.get_running_loop().create_task(reembed(), name="astrolens-reembed")
        self._reembed_task = task
        self._scans.add(task)
        task.add_done_callback(self._scans.discard)

    def secrets_status(self) -> SecretsStatus:
        from astrolens.settings.secrets import KNOWN_SECRETS, get_secret, keyring_backend_name

        present: dict[str, bool] = {}
        error = ""
        for name in KNOWN_SECRETS:
            got = get_secret(name)
            present[name] = bool(got.value)
            error = error or got.error
        return SecretsStatus(
            backend=keyring_backend_name(), available=not error, error=error, present=present
        )

    def set_secret(self, name: str, value: str | None) -> str:
        from astrolens.settings.secrets import set_secret

        return set_secret(name, value).error

    async def shutdown(self) -> None:
        for task in list(self._scans):
            task.cancel()
        for task in list(self._scans):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5.0)
        if self._pipeline is not None:
            await self._pipeline.stop()
        if self._toolbox is not None:
            with contextlib.suppress(Exception):  # unregister from the SAMP hub
                await asyncio.wait_for(self._toolbox.close(), 5.0)
        if self._learning is not None:
            self._learning.runner.cancel()
            await self._learning.runner.wait()
            self._learning.close()
        # The app owns the db/io/ml executor threads: without this, quitting during the first
        # cycle left them running and the process exited 1 (found by the bundle smoke test).
        # close() blocks (joins threads, closes SQLite on its thread), so not on the loop.
        await asyncio.get_running_loop().run_in_executor(None, self.app.close)


def create_agent_controller(app: AstroLensApp, *, start: bool = True) -> AgentRuntime:
    """The controller the tray drives; with a running loop, discovery starts right away."""
    runtime = AgentRuntime(app)
    if start:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return runtime
        runtime.start()
    return runtime
