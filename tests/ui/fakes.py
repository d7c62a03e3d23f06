"""A fake AgentController over the real demo images in ../shared/data/demo.

It implements the whole AgentController Protocol in memory, with realistic candidates:
scores and p-values, per-detector scores, and cross-matches in every state (match with
objects, no match, error with a reason, pending). Images are read from the shared folder at
test time, never copied into the repository. Secrets go to the real keyring backend that the
test configured (keyrings.alt file backend or the Secret Service), never to a dict.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import math
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from astrolens.domain.agent import AgentStats, CandidateQuery, SecretsStatus
from astrolens.domain.annotation import Annotation
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import (
    CatalogObject,
    CatalogVerdict,
    CrossMatch,
    MatchStatus,
    catalog_verdict,
)
from astrolens.domain.display import DisplayImage, DisplayLimits, DisplayStretch
from astrolens.domain.events import (
    AnnotationAdded,
    CandidateFound,
    CatalogChecked,
    CycleFinished,
    Event,
    ImageScored,
    LabelAdded,
    PipelineState,
    PipelineStateChanged,
    Progress,
    ScanFinished,
    ScanProgress,
)
from astrolens.domain.images import ImageGroup, ImageRecord, Provenance
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.learning import (
    REEMBED_STAGE,
    TRAINING_STAGE,
    HeadPrediction,
    TrainingRequest,
)
from astrolens.domain.ports import Notifier
from astrolens.domain.records import TrainingRun, TrainingStatus
from astrolens.domain.scoring import Calibration, ScoreResult, Thresholds, Verdict
from astrolens.domain.settings import Settings
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import SourceState, SourceStatus
from astrolens.imaging.display import DisplayRenderer

NOW = datetime(2025, 3, 14, 21, 30, tzinfo=UTC)
MODEL = "efficientnet-lite0"
THRESHOLDS = Thresholds(anomaly_p=0.004, near_miss_p=0.03)
DETECTORS = ("knn", "mahalanobis", "energy", "isolation")
SERVICES = ("simbad", "ned", "vizier", "openngc")

_J_NAME = re.compile(r"J(\d{2})(\d{2})(\d{2}(?:\.\d+)?)([+-])(\d{2})(\d{2})(\d{2}(?:\.\d+)?)")


def _unit(key: str, salt: str = "") -> float:
    """A stable pseudo-random number in [0, 1) from a name: the same demo data every run."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def sky_from_name(name: str) -> SkyPosition | None:
    """The position encoded in an IAU-style 'JHHMMSS.s+DDMMSS' name, when there is one."""
    m = _J_NAME.search(name)
    if not m:
        return None
    h, mi, s, sign, d, dm, ds = m.groups()
    ra = (int(h) + int(mi) / 60 + float(s) / 3600) * 15
    dec = int(d) + int(dm) / 60 + float(ds) / 3600
    return SkyPosition(ra, -dec if sign == "-" else dec)


def _sky_for(name: str) -> SkyPosition | None:
    pos = sky_from_name(name)
    if pos is not None:
        return pos
    if "cosmos" in name:  # the COSMOS field
        return SkyPosition(150.1 + 0.6 * _unit(name, "ra"), 1.9 + 0.6 * _unit(name, "dec"))
    if name.startswith(("hsc", "ztf", "decals", "candels")):
        return SkyPosition(360 * _unit(name, "ra"), -10 + 50 * _unit(name, "dec"))
    return None  # pictures (APOD-like) have no sky position


@dataclasses.dataclass
class DemoRow:
    path: Path
    expected: str
    label: str


def demo_rows(demo_dir: Path) -> list[DemoRow]:
    rows = []
    with open(demo_dir / "manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(DemoRow(demo_dir / r["file"], r["expected"], r["label"]))
    return rows


def _crossmatches(name: str, pos: SkyPosition | None, kind: int) -> tuple[CrossMatch, ...]:
    """Cross-matches in each state, chosen by `kind` so every state appears in the demo."""
    if pos is None:
        return ()
    checked = NOW - timedelta(minutes=5)
    if kind == 0:  # a known galaxy at SIMBAD and NED, nothing at VizieR
        ident = f"SDSS J{name[1:19]}" if name.startswith("J") else f"LEDA {int(_unit(name) * 9e5)}"
        obj = CatalogObject(ident, "G", pos, 0.8 + 2 * _unit(name, "sep"), 0.04, "simbad")
        ned = CatalogObject(ident, "G", pos, 1.1, 0.041, "ned")
        return (
            CrossMatch("simbad", MatchStatus.MATCH, 6.0, (obj,), checked_at=checked),
            CrossMatch("ned", MatchStatus.MATCH, 6.0, (ned,), checked_at=checked),
            CrossMatch("vizier", MatchStatus.NO_MATCH, 6.0, checked_at=checked, catalog="II/349"),
            CrossMatch("openngc", MatchStatus.NO_MATCH, 6.0, checked_at=checked),
        )
    if kind == 1:  # nothing anywhere: a possible discovery
        return tuple(CrossMatch(s, MatchStatus.NO_MATCH, 5.0, checked_at=checked) for s in SERVICES)
    if kind == 2:  # NED failed: the verdict must say "incomplete", not "discovery"
        return (
            CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0, checked_at=checked),
            CrossMatch(
                "ned",
                MatchStatus.ERROR,
                5.0,
                reason="ConnectionError: ned.ipac.caltech.edu unreachable (offline?)",
                checked_at=checked,
            ),
            CrossMatch("vizier", MatchStatus.NO_MATCH, 5.0, checked_at=checked),
            CrossMatch("openngc", MatchStatus.NO_MATCH, 5.0, checked_at=checked),
        )
    # kind 3: still being checked
    return (
        CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0, checked_at=checked),
        CrossMatch("ned", MatchStatus.PENDING, 5.0),
        CrossMatch("vizier", MatchStatus.PENDING, 5.0),
        CrossMatch("openngc", MatchStatus.NO_MATCH, 5.0, checked_at=checked),
    )


def build_demo_candidates(demo_dir: Path) -> list[Candidate]:
    out: list[Candidate] = []
    for i, row in enumerate(demo_rows(demo_dir), start=1):
        name = row.path.name.split("__", 1)[1]
        if row.expected == "normal" and i % 3:
            continue  # most normals are not candidates; a few are near-misses
        u = _unit(name)
        if row.expected == "anomaly":
            p = 10 ** (-2.5 - 1.6 * u)
        elif row.expected in ("transient", "picture_or_fits"):
            p = 10 ** (-1.6 - 1.2 * u)
        else:
            p = 0.006 + 0.02 * u
        verdict = THRESHOLDS.judge(p)
        if verdict is Verdict.NORMAL:
            continue
        score = -math.log10(p) + 0.3 * _unit(name, "score")
        det = {d: round(score * (0.6 + 0.7 * _unit(name, d)), 3) for d in DETECTORS}
        pos = _sky_for(name)
        group = (
            ImageGroup.TRANSIENT
            if row.expected == "transient"
            else ImageGroup.PICTURE
            if pos is None
            else ImageGroup.SURVEY
        )
        source = {
            ImageGroup.TRANSIENT: "ztf",
            ImageGroup.PICTURE: "apod",
        }.get(group, "legacy-survey" if name.startswith(("J", "decals")) else "sample-sky")
        record = ImageRecord(
            id=i,
            content_hash=hashlib.sha256(name.encode()).hexdigest(),
            perceptual_hash=f"{int(u * 2**63):016x}",
            provenance=Provenance(
                source_id=source,
                uri=f"file://{row.path}",
                survey=source,
                bands="grz" if pos else None,
                pixel_scale_arcsec=0.262 if pos else None,
                sky=pos,
                extra={"label": row.label},
            ),
            width=256,
            height=256,
            group=group,
            created_at=NOW - timedelta(hours=40 * u),
            image_path=str(row.path),
            thumbnail_path=str(row.path),
        )
        xm = _crossmatches(name, pos, i % 4)
        out.append(
            Candidate(
                image=record,
                result=ScoreResult(
                    score=round(score, 3),
                    p_value=p,
                    verdict=verdict,
                    detector_scores=det,
                    calibration_version=3,
                    thresholds=THRESHOLDS,
                ),
                model_id=MODEL,
                crossmatches=xm,
                # as the store says it: no position, no catalog to ask (never "pending")
                catalog_verdict=catalog_verdict(xm) if pos else CatalogVerdict.NO_POSITION,
                rank_score=score,
            )
        )
    return out


class FakeController:
    """The whole AgentController Protocol, in memory, over the demo images."""

    def __init__(
        self,
        demo_dir: Path,
        *,
        total: int | None = None,
        notifier: Notifier | None = None,
        state: PipelineState = PipelineState.RUNNING,
        call_delay_s: float = 0.0,
    ) -> None:
        self.demo_dir = demo_dir
        self.base = build_demo_candidates(demo_dir)
        self.total = total  # when set, pretend the store holds this many candidates
        self.notifier = notifier
        self.call_delay_s = call_delay_s
        self._state = state
        self._unpaused = asyncio.Event()
        if state is not PipelineState.PAUSED:
            self._unpaused.set()
        self._listeners: list[Callable[[Event], None]] = []
        self._labels: dict[int, Label] = {}
        self._settings = Settings()
        self._pending_xm: dict[int, tuple[CrossMatch, ...]] = {}
        self._annotations: dict[int, list[Annotation]] = {}
        self.calls: list[tuple[str, object]] = []
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="fake-agent")
        self._tasks: set[asyncio.Task[None]] = set()
        self.shut_down = False
        self.renderer = DisplayRenderer()

    # -- state and control
    @property
    def state(self) -> PipelineState:
        return self._state

    def _set_state(self, state: PipelineState, message: str = "") -> None:
        self._state = state
        if state is PipelineState.PAUSED:
            self._unpaused.clear()
        else:
            self._unpaused.set()
        self.emit(PipelineStateChanged(state, message))

    def pause(self) -> None:
        self.calls.append(("pause", None))
        if self._state is not PipelineState.PAUSED:  # said once, as the real agent does
            self._set_state(PipelineState.PAUSED)

    def resume(self) -> None:
        self.calls.append(("resume", None))
        if self._state is PipelineState.PAUSED:
            self._set_state(PipelineState.RUNNING)

    def request_calibration(self) -> None:
        self.calls.append(("calibrate", None))

    def scan_folder(self, path: Path) -> None:
        self.calls.append(("scan", path))
        task = asyncio.ensure_future(self.run_scan(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_scan(self, path: Path, repeats: int = 1) -> int:
        """Decode every image under `path` in the executor (real work, as a scan does)."""
        loop = asyncio.get_running_loop()
        files = await loop.run_in_executor(self.executor, _images_in, path)
        done = 0
        total = len(files) * repeats
        what = f"folder {path.name}"
        self.emit(ScanProgress(what, 0, 0))
        for _ in range(repeats):
            for f in files:
                await self._unpaused.wait()  # Pause holds a scan, as for real
                await loop.run_in_executor(self.executor, _heavy_decode, f)
                done += 1
                self.emit(Progress(done, total, "images"))
                self.emit(ScanProgress(what, done, total))
        self.emit(CycleFinished(1, done, 0, 0, 0, 0, 1.0))
        self.emit(ScanFinished(what, total, done, 0, 0, 0, 0, 1.0))
        return done

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    async def announce(self, count: int) -> list[Candidate]:
        """Act as if a cycle just found `count` anomalies: events, then notifications."""
        found = [c for c in self.base if c.result.verdict is Verdict.ANOMALY][:count]
        for c in found:
            self.emit(
                ImageScored(
                    c.id,
                    c.image.provenance.source_id,
                    c.result.verdict,
                    c.result.score,
                    c.result.p_value,
                )
            )
            self.emit(CandidateFound(c))
        if self.notifier is not None:
            await self.notifier.notify_candidates(found)
        return found

    # -- data
    def _with_state(self, c: Candidate) -> Candidate:
        xm = self._pending_xm.get(c.id, c.crossmatches)
        return dataclasses.replace(
            c,
            label=self._labels.get(c.id),
            crossmatches=xm,
            catalog_verdict=catalog_verdict(xm) if xm else c.catalog_verdict,
        )

    def _matching(self, q: CandidateQuery) -> list[Candidate]:
        out = []
        for c in self.base:
            c = self._with_state(c)
            if c.result.verdict not in q.verdicts:
                continue
            if q.source_id and c.image.provenance.source_id != q.source_id:
                continue
            if q.labelled is not None and (c.label is not None) != q.labelled:
                continue
            if q.catalog_verdict and c.catalog_verdict is not q.catalog_verdict:
                continue
            if q.since and c.image.created_at < q.since:
                continue
            out.append(c)
        if q.order_by == "newest":
            out.sort(key=lambda c: c.image.created_at, reverse=True)
        else:
            out.sort(key=lambda c: c.result.score, reverse=True)
        return out

    async def _delay(self) -> None:
        await asyncio.sleep(self.call_delay_s)

    async def stats(self) -> AgentStats:
        await self._delay()
        anomalies = [c for c in self.base if c.result.verdict is Verdict.ANOMALY]
        rng = np.random.default_rng(7)
        scores = tuple(float(x) for x in rng.gamma(2.0, 0.5, 600)) + tuple(
            c.result.score for c in self.base
        )
        p_values = tuple(float(x) for x in rng.uniform(0, 1, 600)) + tuple(
            c.result.p_value for c in self.base
        )
        hourly = tuple(int(40 + 30 * math.sin(h / 3.0) + 10 * _unit(str(h))) for h in range(24))
        return AgentStats(
            images_total=12_480 if self.total is None else self.total * 20,
            images_today=sum(hourly[-21:]),
            anomalies=len(anomalies),
            near_misses=len(self.base) - len(anomalies),
            unlabelled_anomalies=sum(1 for c in anomalies if c.id not in self._labels),
            current_source="legacy-survey",
            state=self._state,
            sources=(
                SourceStatus(
                    "sample-sky", SourceState.EXHAUSTED, "all 480 sample fields seen", fetched=480
                ),
                SourceStatus(
                    "legacy-survey", SourceState.ACTIVE, "DR10 cutouts", fetched=9120, failed=12
                ),
                SourceStatus(
                    "sdss",
                    SourceState.UNAVAILABLE,
                    "HTTP 503",
                    retry_at=NOW + timedelta(minutes=10),
                    fetched=2770,
                    failed=31,
                ),
                SourceStatus("ztf", SourceState.IDLE, "", fetched=96),
                SourceStatus("apod", SourceState.DISABLED),
            ),
            calibrations=(
                Calibration(3, MODEL, "survey", 4000, 0.05, THRESHOLDS, NOW - timedelta(hours=6)),
            ),
            recent_scores=scores,
            recent_p_values=p_values,
            hourly_counts=hourly,
            thresholds_in_use=THRESHOLDS,  # the fake judges every image by one fixed cut
            anomaly_cut_range=(THRESHOLDS.anomaly_p, THRESHOLDS.anomaly_p),
        )

    async def candidates(self, query: CandidateQuery) -> list[Candidate]:
        await self._delay()
        self.calls.append(("candidates", (query.offset, query.limit)))
        if self.total is None:
            return self._matching(query)[query.offset : query.offset + query.limit]
        # The big store: row i is a copy of a demo candidate with its own id.
        end = min(self.total, query.offset + query.limit)
        n = len(self.base)
        return [
            dataclasses.replace(
                self.base[i % n],
                image=dataclasses.replace(self.base[i % n].image, id=100_000 + i),
            )
            for i in range(query.offset, end)
        ]

    async def count_candidates(self, query: CandidateQuery) -> int:
        await self._delay()
        return self.total if self.total is not None else len(self._matching(query))

    async def get_candidate(self, image_id: int) -> Candidate | None:
        await self._delay()
        self.calls.append(("get_candidate", image_id))
        for c in self.base:
            if c.id == image_id:
                return self._with_state(c)
        return None

    async def image_path(self, image_id: int) -> Path | None:
        c = await self.get_candidate(image_id)
        return Path(c.image.image_path) if c and c.image.image_path else None

    async def display_image(
        self,
        image_id: int,
        stretch: DisplayStretch | None = None,
        limits: DisplayLimits | None = None,
        max_side: int = 0,
    ) -> DisplayImage | None:
        # The real renderer on the real demo files, on a worker thread like the agent's.
        self.calls.append(("display_image", image_id))
        c = next((c for c in self.base if c.id == image_id), None)
        if c is None or not c.image.image_path:
            return None
        loop = asyncio.get_running_loop()
        path = Path(c.image.image_path)
        shown: DisplayImage = await loop.run_in_executor(
            self.executor, self.renderer.render, path, stretch, limits, max_side
        )
        return shown

    async def neighbours(self, image_id: int, k: int = 8) -> list[Candidate]:
        me = await self.get_candidate(image_id)
        if me is None:
            return []
        others = [c for c in self.base if c.id != image_id]
        others.sort(key=lambda c: abs(c.result.score - me.result.score))
        return [self._with_state(c) for c in others[:k]]

    async def label(
        self, image_id: int, value: LabelValue, note: str = "", origin: str = "ui"
    ) -> None:
        await self._delay()
        self.calls.append(("label", (image_id, value, note, origin)))
        self._labels[image_id] = Label(image_id, value, "tester", datetime.now(UTC), note, origin)
        self.emit(LabelAdded(self._labels[image_id]))

    # -- what the local API asks for (AgentController additions)
    async def images(
        self, limit: int = 50, after_id: int = 0, source_id: str | None = None
    ) -> list[ImageRecord]:
        found = sorted((c.image for c in self.base), key=lambda r: r.id)
        found = [r for r in found if r.id > after_id]
        if source_id is not None:
            found = [r for r in found if r.provenance.source_id == source_id]
        return found[:limit]

    async def get_image(self, image_id: int) -> ImageRecord | None:
        c = await self.get_candidate(image_id)
        return c.image if c is not None else None

    async def image_png(
        self, image_id: int, stretch: str = "auto", max_px: int | None = None
    ) -> bytes | None:
        from astrolens.app.agent import render_png  # the real rendering, off the loop

        return await render_png(self, image_id, stretch, max_px, self.executor)

    async def thumbnail_png(self, image_id: int) -> bytes | None:
        return await self.image_png(image_id, max_px=256)

    async def crossref_summary(self) -> dict[str, object]:
        from astrolens.catalogs.report import summarise

        return summarise(self._with_state(c).crossmatches for c in self.base if c.crossmatches)

    async def annotate(
        self, image_id: int, provider: str | None = None, model: str | None = None
    ) -> Annotation:
        """The real annotator (prompt, PNG, provider client over HTTP) on the demo data;
        only the storage is in memory. Point `settings().ollama_url` at a local server."""
        from astrolens.services.annotator import annotate_candidate

        self.calls.append(("annotate", image_id))
        app = SimpleNamespace(settings=self._settings, executors=SimpleNamespace(io=self.executor))
        found = await annotate_candidate(self, app, image_id, provider, model)
        stored = dataclasses.replace(found, id=len(self._annotations) + 1)
        self._annotations.setdefault(image_id, []).insert(0, stored)
        self.emit(AnnotationAdded(stored))
        return stored

    async def annotations(self, image_id: int) -> list[Annotation]:
        return list(self._annotations.get(image_id, []))

    async def retry_crossmatch(self, image_id: int) -> None:
        self.calls.append(("retry", image_id))
        c = next((c for c in self.base if c.id == image_id), None)
        if c is None:
            return
        if c.image.provenance.sky is None:  # nothing to ask, as the real agent says
            self.emit(CatalogChecked(image_id, CatalogVerdict.NO_POSITION, c))
            return
        self._pending_xm[image_id] = tuple(
            CrossMatch(x.service, MatchStatus.PENDING, x.radius_arcsec) for x in c.crossmatches
        )
        self.emit(CatalogChecked(image_id, CatalogVerdict.PENDING))
        await asyncio.sleep(0.05)
        # Offline here, so the retry honestly fails again for the online services.
        self._pending_xm[image_id] = tuple(
            CrossMatch(
                x.service,
                MatchStatus.ERROR,
                x.radius_arcsec,
                reason="ConnectionError: no network",
                checked_at=datetime.now(UTC),
            )
            if x.service != "openngc"
            else CrossMatch(
                x.service, MatchStatus.NO_MATCH, x.radius_arcsec, checked_at=datetime.now(UTC)
            )
            for x in c.crossmatches
        )
        self.emit(
            CatalogChecked(image_id, CatalogVerdict.INCOMPLETE, await self.get_candidate(image_id))
        )

    # -- settings
    def data_folder(self) -> Path:
        from astrolens.settings.paths import app_paths  # resolved as the real agent does

        return app_paths().data_dir

    def settings(self) -> Settings:
        return dataclasses.replace(self._settings)

    async def save_settings(self, settings: Settings) -> None:
        self.calls.append(("save_settings", settings))
        switched = settings.model != self._settings.model
        self._settings = settings.validate()
        if switched:  # the real agent re-embeds every stored image with the new model
            n = len(self.base)
            for done in range(0, n + 1, 32):
                self.emit(Progress(min(done, n), n, REEMBED_STAGE))
            if n % 32:
                self.emit(Progress(n, n, REEMBED_STAGE))

    def secrets_status(self) -> SecretsStatus:
        from astrolens.settings import secrets

        try:
            backend = secrets.keyring_backend_name()
        except Exception as exc:
            return SecretsStatus("none", False, str(exc))
        present = {}
        error = ""
        for name in secrets.KNOWN_SECRETS:
            got = secrets.get_secret(name)
            present[name] = bool(got.value)
            error = error or got.error
        return SecretsStatus(backend, not error, error, present)

    def set_secret(self, name: str, value: str | None) -> str:
        from astrolens.settings import secrets

        self.calls.append(("set_secret", name))  # never the value
        return secrets.set_secret(name, value).error

    async def shutdown(self) -> None:
        self.calls.append(("shutdown", None))
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.shut_down = True

    # -- LearningController (domain/learning.py): runs are recorded in memory

    runs: list[TrainingRun] = []  # noqa: RUF012  (replaced per instance on first train)
    training_active: bool = False

    async def label_next(self, n: int = 10) -> list[Candidate]:
        self.calls.append(("label_next", n))
        unlabelled = [c for c in self.base if c.id not in self._labels]
        return unlabelled[:n]

    async def predictions(self, image_id: int) -> list[HeadPrediction]:
        """A morphology head, as a Galaxy10 run would have promoted it."""
        top = (("merging", 0.71), ("disturbed", 0.18), ("round_smooth", 0.05))
        return [HeadPrediction("dataset:Galaxy10_DECals", 3, top)]

    async def rerank(self) -> int:
        self.calls.append(("rerank", None))
        return len(self.base)

    def train(self, request: TrainingRequest) -> None:
        """A run that finishes at once: before/after from the labels given so far."""
        self.calls.append(("train", request))
        self.runs = [*self.runs]
        n = len(self._labels)
        before = 0.5 + 0.01 * len(self.runs)
        self.runs.insert(
            0,
            TrainingRun(
                id=len(self.runs) + 1,
                model_id="fake+head:0000",
                parameters={
                    "epochs": request.epochs,
                    "backbone_blocks": request.backbone_blocks,
                    **(
                        {"new_model": "efficientnet-lite0+ft-0123abcd"}
                        if request.backbone_blocks
                        else {}
                    ),
                },
                data_description="verification labels",
                started_at=datetime.now(UTC),
                status=TrainingStatus.FINISHED,
                metrics_before={"balanced_accuracy": before, "n": float(n)},
                metrics_after={"balanced_accuracy": before + 0.049, "n": float(n)},
                promoted=True,
            ),
        )
        for listener in list(self._listeners):
            listener(Progress(1000, 1000, TRAINING_STAGE))

    def cancel_training(self) -> None:
        self.calls.append(("cancel_training", None))

    async def training_runs(self) -> list[TrainingRun]:
        return list(self.runs)


def _images_in(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def _append(log_path: str, line: str) -> None:
    with open(log_path, "a") as fh:
        fh.write(f"{time.time():.3f} {line}\n")


def _heavy_decode(path: Path) -> float:
    """Decode, upsample and reduce an image: the kind of blocking work a scan does."""
    from PIL import Image

    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB").resize((768, 768)), dtype=np.float32)
    acc = 0.0
    for _ in range(4):
        acc += float(np.sort(arr, axis=None)[arr.size // 2])
    return acc


def demo_controller_factory(notifier: Notifier) -> FakeController:
    """For subprocess tests and the startup benchmark (ASTROLENS_CONTROLLER_FACTORY).

    ASTROLENS_FAKE_DEMO: the demo folder; ASTROLENS_FAKE_ANNOUNCE: anomalies to announce a
    moment after start; ASTROLENS_FAKE_STATE: the initial state (running / paused).
    """
    demo = Path(
        os.environ.get(
            "ASTROLENS_FAKE_DEMO", Path(__file__).resolve().parents[3] / "shared" / "data" / "demo"
        )
    )
    state = PipelineState(os.environ.get("ASTROLENS_FAKE_STATE", "running"))
    ctl = FakeController(demo, notifier=notifier, state=state)
    log_path = os.environ.get("ASTROLENS_FAKE_LOG")
    if log_path:
        # The test reads what the agent asked of the controller from this file.
        def record(event: Event) -> None:
            if isinstance(event, PipelineStateChanged):
                _append(log_path, f"state {event.state.value}")

        ctl.subscribe(record)
        original_label = ctl.label

        async def label(
            image_id: int, value: LabelValue, note: str = "", origin: str = "ui"
        ) -> None:
            await original_label(image_id, value, note, origin)
            _append(log_path, f"label {image_id} {value.value} {origin}")

        ctl.label = label  # type: ignore[method-assign]
    announce = int(os.environ.get("ASTROLENS_FAKE_ANNOUNCE", "0"))
    if announce:
        loop = asyncio.get_event_loop()
        loop.call_later(1.0, lambda: asyncio.ensure_future(ctl.announce(announce)))
    return ctl
