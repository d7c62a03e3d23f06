"""The Protocols adapters implement and the pipeline consumes.

Blocking ports (Decoder, Embedder, Detector, VectorIndex, BlobStore, and the store's ports:
Repository and the narrower ones it unites, in store_ports.py) are called by the pipeline
through named executors, never on the event loop. Async ports (ImageSource, CrossMatcher,
Notifier) are awaited on the loop and must not block it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CrossMatch
from astrolens.domain.events import Event
from astrolens.domain.images import DecodedImage, FloatImage, ImageGroup, RawImage
from astrolens.domain.scoring import Calibration, ScoreResult
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask, SourceStatus

# The store's ports live in their own module; re-exported so `ports` names every port.
from astrolens.domain.store_ports import (
    CandidateStore,
    CrossMatchStore,
    ImageStore,
    LearningStore,
    Matrix,
    Repository,
    RunStore,
    ScoreStore,
    StatsStore,
    VectorStore,
)

__all__ = [
    "AnomalyScorer",
    "BlobStore",
    "CandidateStore",
    "CrossMatchStore",
    "CrossMatcher",
    "Decoder",
    "Detector",
    "Embedder",
    "EventSink",
    "ImageSource",
    "ImageStore",
    "LearningStore",
    "Matrix",
    "Notifier",
    "Repository",
    "RunStore",
    "ScoreStore",
    "ScorerStore",
    "StatsStore",
    "VectorIndex",
    "VectorStore",
]
EventSink = Callable[[Event], None]


@runtime_checkable
class ImageSource(Protocol):
    """A place images come from. Plans tasks from a persistent cursor, then fetches them."""

    @property
    def id(self) -> str: ...

    @property
    def group(self) -> ImageGroup: ...

    def status(self) -> SourceStatus: ...

    async def plan(self, limit: int) -> list[FetchTask]:
        """The next tasks after the cursor. A finished source returns []."""
        ...

    async def fetch(self, task: FetchTask) -> RawImage:
        """Fetch one task. Raises SourceUnavailableError / UnreadableImageError."""
        ...

    async def mark_done(self, task: FetchTask) -> None:
        """Called once the task's images are safely stored: the cursor may move past it."""
        ...

    async def aclose(self) -> None: ...


class Decoder(Protocol):
    def decode(self, raw: RawImage) -> list[DecodedImage]:
        """Bytes to model-ready images; big frames become stamps. Raises UnreadableImageError."""
        ...


class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, images: Sequence[FloatImage]) -> Matrix:
        """(N, dim) float32, L2-normalised rows."""
        ...


class Detector(Protocol):
    """One out-of-distribution detector. Higher score = more anomalous."""

    name: str

    def fit(self, features: Matrix) -> Detector: ...

    def score(self, features: Matrix) -> npt.NDArray[np.float64]: ...


class AnomalyScorer(Protocol):
    """The calibrated ensemble: fit on a reference, then judge new images."""

    @property
    def fitted(self) -> bool: ...

    def fit(self, reference: Matrix, *, group: str, model_id: str) -> Calibration: ...

    def score(self, features: Matrix) -> list[ScoreResult]: ...

    def score_cross_fitted(
        self, features: Matrix, reference: Matrix, *, group: str, model_id: str
    ) -> list[ScoreResult]:
        """A first batch that is also its own reference: each image judged by a model fitted
        on the reference plus the other images, one FDR decision over the batch."""
        ...


class ScorerStore(Protocol):
    """Fitted scorers kept between runs, so a start loads the reference model instead of
    refitting it from the archive. Keyed by the scoring key's name ('stamp' or
    'stamp|<kind>'). Blocking (files): call from the io executor."""

    def save(self, key: str, scorer: AnomalyScorer, calibration: Calibration) -> None:
        """Keep `scorer`, fitted for `key`, as the one `calibration` (stored) describes."""
        ...

    def saved_version(self, key: str, model_id: str) -> int | None:
        """The stored calibration version the saved scorer of `key` belongs to, if any."""
        ...

    def load(self, key: str, calibration: Calibration, like: AnomalyScorer) -> AnomalyScorer | None:
        """The scorer saved for exactly this stored calibration (same model, key and
        version) and with the settings of `like`; None if there is none or it is stale."""
        ...


class VectorIndex(Protocol):
    model_id: str
    dim: int

    def add(self, ids: Sequence[int], vectors: Matrix) -> None: ...

    def search(
        self, vectors: Matrix, k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...

    def __len__(self) -> int: ...

    def save(self, path: Path) -> None: ...


class BlobStore(Protocol):
    """Content-addressed image and thumbnail files, written atomically."""

    def put_image(self, image: DecodedImage, original: bytes | None) -> tuple[str, str]:
        """Returns (image_path, thumbnail_path)."""
        ...


class CrossMatcher(Protocol):
    """Asks every enabled catalog about one position. Never raises for a service failure:
    that service's CrossMatch has status ERROR with the reason."""

    async def crossmatch(self, position: SkyPosition, radius_arcsec: float) -> list[CrossMatch]: ...


class Notifier(Protocol):
    async def available(self) -> tuple[bool, str]: ...

    async def notify_candidates(self, candidates: Sequence[Candidate], scanned: str = "") -> None:
        """Show anomalies. With `scanned` (what a finished scan or cycle covered, in words)
        they are all of that scan's anomalies: one notification, never a trickle."""
        ...
