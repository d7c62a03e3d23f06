"""The Protocols adapters implement and the pipeline consumes.

Blocking ports (Decoder, Embedder, Detector, VectorIndex, Repository, BlobStore) are called
by the pipeline through named executors, never on the event loop. Async ports (ImageSource,
CrossMatcher, Notifier) are awaited on the loop and must not block it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CrossMatch
from astrolens.domain.embedding import Embedding
from astrolens.domain.events import Event
from astrolens.domain.images import DecodedImage, FloatImage, ImageGroup, ImageRecord, RawImage
from astrolens.domain.labels import Label
from astrolens.domain.scoring import Calibration, ScoreResult, Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.domain.sources import FetchTask, SourceStatus

Matrix = npt.NDArray[np.float32]
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


class Repository(Protocol):
    """The store, as the pipeline sees it. Every method is blocking: use the db executor."""

    def has_uri(self, uri: str) -> bool: ...

    def known_uris(self, uris: Sequence[str]) -> set[str]:
        """The subset of `uris` already stored, seen or quarantined."""
        ...

    def find_duplicate(self, image: DecodedImage) -> ImageRecord | None:
        """The stored record this image duplicates (same bytes, or a look-alike that may be
        the same object), or None."""
        ...

    def record_sighting(self, image_id: int, uri: str) -> None: ...

    def add_image(
        self, image: DecodedImage, image_path: str | None, thumbnail_path: str | None
    ) -> ImageRecord: ...

    def add_scored_image(
        self,
        image: DecodedImage,
        image_path: str | None,
        thumbnail_path: str | None,
        embedding: Embedding,
        model_id: str,
        result: ScoreResult | None,
    ) -> ImageRecord:
        """Image + embedding (+ score and candidate row when scored) in one transaction."""
        ...

    def get_image(self, image_id: int) -> ImageRecord | None: ...

    def add_embedding(self, image_id: int, embedding: Embedding) -> None: ...

    def add_score(self, image_id: int, model_id: str, result: ScoreResult) -> None: ...

    def unscored_embeddings(
        self, model_id: str, limit: int = ...
    ) -> list[tuple[int, ImageGroup, Matrix, str]]:
        """(image id, group, vector, content hash) of images embedded but never scored."""
        ...

    def reference_vectors(
        self, model_id: str, group: ImageGroup, limit: int, kind: str | None = ...
    ) -> tuple[list[int], Matrix]:
        """`kind` (domain/lookalike.py) narrows the group to images that look alike."""
        ...

    def kinds_of(self, image_ids: Sequence[int]) -> dict[int, str]:
        """The look-alike kind of each stored image (domain/lookalike.stored_kind)."""
        ...

    def save_calibration(self, calibration: Calibration) -> Calibration: ...

    def latest_calibration(self, model_id: str, group: ImageGroup) -> Calibration | None: ...

    def candidates(
        self, verdicts: Sequence[Verdict] = ..., limit: int = ..., offset: int = ...
    ) -> list[Candidate]: ...

    def get_candidate(self, image_id: int) -> Candidate | None: ...

    def save_crossmatch(self, image_id: int, result: CrossMatch) -> None: ...

    def pending_crossmatches(self, limit: int) -> list[Candidate]: ...

    def add_label(self, label: Label) -> None: ...

    def quarantine(self, uri: str, reason: str) -> None: ...

    def get_cursor(self, source_id: str) -> str | None: ...

    def set_cursor(self, source_id: str, cursor: str) -> None: ...


class CrossMatcher(Protocol):
    """Asks every enabled catalog about one position. Never raises for a service failure:
    that service's CrossMatch has status ERROR with the reason."""

    async def crossmatch(self, position: SkyPosition, radius_arcsec: float) -> list[CrossMatch]: ...


class Notifier(Protocol):
    async def available(self) -> tuple[bool, str]: ...

    async def notify_candidates(self, candidates: Sequence[Candidate]) -> None: ...
