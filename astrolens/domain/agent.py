"""What the desktop UI may ask of the running agent. The app implements it; the UI only
sees this Protocol and domain types, so widgets never touch the store, torch or the network.

Every coroutine here is awaited on the Qt/asyncio loop (qasync); implementations push
blocking work to executors, so the UI never freezes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from astrolens.domain.annotation import Annotation
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.display import DisplayImage, DisplayLimits, DisplayStretch
from astrolens.domain.events import Event, PipelineState
from astrolens.domain.images import ImageRecord
from astrolens.domain.labels import LabelValue
from astrolens.domain.scoring import Calibration, Thresholds, Verdict
from astrolens.domain.settings import Settings
from astrolens.domain.sources import SourceStatus


@dataclass(frozen=True, slots=True)
class CandidateQuery:
    """A page of candidates as a view asks the controller for it.

    Not the store's `records.CandidateFilter`: this one adds paging (`limit`, `offset`) and
    `since`, and speaks the views' terms (a labelled yes/no/either, one catalog verdict, an
    order by name); `app.agent.to_store_filter` turns it into the store's filter.
    """

    verdicts: tuple[Verdict, ...] = (Verdict.ANOMALY, Verdict.NEAR_MISS)
    source_id: str | None = None
    labelled: bool | None = None  # None: both; True: only labelled; False: only unlabelled
    catalog_verdict: CatalogVerdict | None = None
    since: datetime | None = None
    order_by: str = "score"  # "score", "rank", "newest"
    limit: int = 200
    offset: int = 0


@dataclass(frozen=True, slots=True)
class AgentStats:
    images_total: int = 0
    images_today: int = 0
    anomalies: int = 0
    near_misses: int = 0
    unlabelled_anomalies: int = 0
    current_source: str | None = None
    state: PipelineState = PipelineState.STOPPED
    sources: tuple[SourceStatus, ...] = ()
    calibrations: tuple[Calibration, ...] = ()
    recent_scores: tuple[float, ...] = ()  # for the histogram
    # The same recent images' calibrated p-values: the thresholds are p-values, so the
    # histogram can only draw them on this axis (empty: the histogram shows raw scores).
    recent_p_values: tuple[float, ...] = ()
    hourly_counts: tuple[int, ...] = ()  # images per hour, last 24 h, for the rate plot
    # The cut the latest judgement really used. The FDR procedure sets it per scan, so it can
    # differ from the calibration's first threshold (and from one scan to the next).
    thresholds_in_use: Thresholds | None = None
    # (lowest, highest) anomaly cut over the recent judgements: when they differ, a near-miss
    # of one scan can have a smaller p than an anomaly of another, and the panel says so.
    anomaly_cut_range: tuple[float, float] | None = None
    # Recent near-misses judged within their own batch (a first scan, or a new kind of image
    # with no reference of its own yet): never called anomalies, and their p-values are not
    # on the calibrated cut's scale.
    ranked_within_batch: int = 0


@dataclass(frozen=True, slots=True)
class SecretsStatus:
    backend: str
    available: bool
    error: str = ""
    present: dict[str, bool] = field(default_factory=dict)


class AgentController(Protocol):
    # -- state and control
    @property
    def state(self) -> PipelineState: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def request_calibration(self) -> None: ...

    def scan_folder(self, path: Path) -> None:
        """Queue a one-off scan of a folder; results arrive as events."""
        ...

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Receive every pipeline event on the loop thread; returns an unsubscribe function."""
        ...

    # -- data
    async def stats(self) -> AgentStats: ...

    async def candidates(self, query: CandidateQuery) -> list[Candidate]: ...

    async def count_candidates(self, query: CandidateQuery) -> int: ...

    async def get_candidate(self, image_id: int) -> Candidate | None: ...

    async def image_path(self, image_id: int) -> Path | None:
        """The stored full image (original bytes when kept) for the zoomable viewer."""
        ...

    async def display_image(
        self,
        image_id: int,
        stretch: DisplayStretch | None = None,
        limits: DisplayLimits | None = None,
        max_side: int = 0,
    ) -> DisplayImage | None:
        """The stored image as 8-bit display pixels, whatever kind the store kept (FITS,
        JPEG/PNG/TIFF, the .npy stamps cut from frames). `stretch`/`limits` None: the default
        for that kind (the result says which). `max_side` > 0: shrunk to fit, for thumbnails.
        None when the candidate has no stored image; UnreadableImageError (with the reason to
        show) when the stored file is missing or cannot be read."""
        ...

    async def neighbours(self, image_id: int, k: int = 8) -> list[Candidate]:
        """'More like this': nearest stored images in embedding space."""
        ...

    async def label(
        self, image_id: int, value: LabelValue, note: str = "", origin: str = "ui"
    ) -> None: ...

    async def retry_crossmatch(self, image_id: int) -> None: ...

    # -- what the local API (and scripts) ask for on top of the window's needs
    async def images(
        self, limit: int = 50, after_id: int = 0, source_id: str | None = None
    ) -> list[ImageRecord]:
        """Every stored image (not only candidates), by id, after `after_id`."""
        ...

    async def get_image(self, image_id: int) -> ImageRecord | None: ...

    async def image_png(
        self, image_id: int, stretch: str = "auto", max_px: int | None = None
    ) -> bytes | None:
        """The stored image rendered for display as PNG (every stored kind); None if absent."""
        ...

    async def thumbnail_png(self, image_id: int) -> bytes | None: ...

    async def crossref_summary(self) -> dict[str, Any]:
        """Counts of candidates by catalog verdict, status and service."""
        ...

    async def annotate(
        self, image_id: int, provider: str | None = None, model: str | None = None
    ) -> Annotation:
        """Ask an LLM to describe the candidate; stored and returned, or AnnotationError."""
        ...

    async def annotations(self, image_id: int) -> list[Annotation]:
        """Stored annotations of an image, newest first."""
        ...

    # -- settings
    def settings(self) -> Settings: ...

    def data_folder(self) -> Path:
        """Where images and the database are kept now (the default, $ASTROLENS_HOME or the
        saved choice): what Settings shows, never a generic description."""
        ...

    async def save_settings(self, settings: Settings) -> None: ...

    def secrets_status(self) -> SecretsStatus: ...

    def set_secret(self, name: str, value: str | None) -> str:
        """Store an API key in the keyring; returns '' on success or the error to show."""
        ...

    async def shutdown(self) -> None: ...


def recent_anomalies_title(candidates: Sequence[Candidate]) -> list[str]:
    """Menu titles for the tray's recent anomalies."""
    titles = []
    for c in candidates:
        name = c.image.display_name
        titles.append(f"#{c.id} {name[:32]} — p={c.result.p_value:.2g}")
    return titles
