"""The Protocols adapters implement and the pipeline consumes.

Blocking ports (Decoder, Embedder, Detector, VectorIndex, Repository, BlobStore) are called
by the pipeline through named executors, never on the event loop. Async ports (ImageSource,
CrossMatcher, Notifier) are awaited on the loop and must not block it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
from astrolens.domain.writes import NewImage, StoredImage

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


class Repository(Protocol):
    """The store, as the pipeline sees it. Every method is blocking: use the db executor."""

    def keep_for_review(self, image_ids: Sequence[int], model_id: str) -> int:
        """Queue these images for review whatever their verdict (a first run's most unusual)."""
        ...

    def has_uri(self, uri: str) -> bool: ...

    def known_uris(
        self, uris: Sequence[str], fingerprints: Mapping[str, str | None] | None = None
    ) -> set[str]:
        """The subset of `uris` done: stored in full, seen, or quarantined and not due again
        (a changed fingerprint or a passed retry time makes a quarantined URI due)."""
        ...

    def begin_file(self, uri: str) -> None:
        """`uri` gives several images; it is not done until finish_file(uri)."""
        ...

    def finish_file(self, uri: str) -> None:
        """Every image of `uri` is stored: done, and no longer quarantined."""
        ...

    def find_duplicate(self, image: DecodedImage) -> ImageRecord | None:
        """The stored record this image duplicates (same bytes, or a look-alike that may be
        the same object), or None."""
        ...

    def find_duplicates(self, images: Sequence[DecodedImage]) -> list[ImageRecord | None]:
        """`find_duplicate` of each image, in one call."""
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

    def add_scored_images(self, items: Sequence[NewImage]) -> list[StoredImage]:
        """A batch of images in one transaction, each checked for a duplicate (earlier in
        the batch or already stored): what each became, with its candidate."""
        ...

    def get_image(self, image_id: int) -> ImageRecord | None: ...

    def add_embedding(self, image_id: int, embedding: Embedding) -> None: ...

    def add_score(self, image_id: int, model_id: str, result: ScoreResult) -> Candidate | None: ...

    def add_scores(
        self, model_id: str, scored: Sequence[tuple[int, ScoreResult]]
    ) -> list[tuple[ImageRecord, Candidate | None]]:
        """Scores of stored images in one transaction, each with its record and candidate."""
        ...

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

    def calibration_by_version(self, version: int) -> Calibration | None: ...

    def count_normal_scores(self, model_id: str, calibration_version: int) -> int:
        """How many images this calibration has judged normal (its refit schedule)."""
        ...

    def candidates(
        self, verdicts: Sequence[Verdict] = ..., limit: int = ..., offset: int = ...
    ) -> list[Candidate]: ...

    def get_candidate(self, image_id: int) -> Candidate | None: ...

    def save_crossmatch(self, image_id: int, result: CrossMatch) -> None: ...

    def save_crossmatches(self, image_id: int, results: Sequence[CrossMatch]) -> Candidate | None:
        """All catalogs' answers for one image in one transaction; the updated candidate."""
        ...

    def pending_crossmatches(self, limit: int) -> list[Candidate]: ...

    def add_label(self, label: Label) -> None: ...

    def quarantine(
        self,
        uri: str,
        reason: str,
        *,
        temporary: bool = False,
        fingerprint: str | None = None,
        task_json: str | None = None,
    ) -> None: ...

    def due_retries(self, source_id: str, limit: int) -> list[str]:
        """Tasks (task_to_json) of temporary failures whose retry time has come."""
        ...

    def get_cursor(self, source_id: str) -> str | None: ...

    def set_cursor(self, source_id: str, cursor: str) -> None: ...


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
