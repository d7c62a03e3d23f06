"""The store's ports, one per concern, and `Repository`, their union.

A caller names the narrowest port it needs (ranking reads candidates and vectors, the cursor
store reads and writes cursors), so what it may touch is visible in its signature and a test
double implements only that. `Repository` is the whole store, for the composition root and
for callers that need most of it. store/ implements each port in its own module.

Every method blocks: call them on the db executor, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from astrolens.domain.annotation import Annotation
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict, CrossMatch
from astrolens.domain.embedding import Embedding
from astrolens.domain.images import DecodedImage, ImageGroup, ImageRecord
from astrolens.domain.labels import Label
from astrolens.domain.records import (
    CandidateFilter,
    CandidateOrder,
    LabelState,
    QuarantineEntry,
    StoreStats,
    TrainingRun,
    TrainingStatus,
)
from astrolens.domain.reference import ReferenceRule
from astrolens.domain.scoring import Calibration, ScoreResult, Verdict
from astrolens.domain.writes import NewImage, StoredImage

Matrix = npt.NDArray[np.float32]


class ImageStore(Protocol):
    """Images: which URIs are done, duplicates and sightings, adding and listing images."""

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

    def finish_files(self, uris: Sequence[str]) -> None:
        """`finish_file` of each, in one transaction."""
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

    def list_images(
        self, limit: int, after_id: int = ..., source_id: str | None = ...
    ) -> list[ImageRecord]:
        """Images by id, from just after `after_id` (keyset paging)."""
        ...

    def count_images(self) -> int: ...

    def images_missing_embedding(self, model_id: str, limit: int) -> list[ImageRecord]: ...

    def kinds_of(self, image_ids: Sequence[int]) -> dict[int, str]:
        """The look-alike kind of each stored image (domain/lookalike.stored_kind)."""
        ...


class VectorStore(Protocol):
    """Embeddings: each image's vector per model, and the reference a detector fits on."""

    def add_embedding(self, image_id: int, embedding: Embedding) -> None: ...

    def unscored_embeddings(
        self, model_id: str, limit: int = ...
    ) -> list[tuple[int, ImageGroup, Matrix, str]]:
        """(image id, group, vector, content hash) of images embedded but never scored."""
        ...

    def reference_vectors(
        self,
        model_id: str,
        group: ImageGroup,
        limit: int,
        kind: str | None = ...,
        *,
        rule: ReferenceRule = ...,
    ) -> tuple[list[int], Matrix]:
        """The newest vectors `rule` (domain/reference.py) admits; `kind` narrows the rule
        to images that look alike."""
        ...

    def embedding_vector(self, image_id: int, model_id: str) -> Matrix | None: ...

    def embeddings(
        self, model_id: str, group: ImageGroup | None = ...
    ) -> tuple[list[int], Matrix]: ...

    def embeddings_of(
        self, model_id: str, image_ids: Sequence[int]
    ) -> tuple[list[int], Matrix]: ...


class ScoreStore(Protocol):
    """Scores and the calibrations they were judged by."""

    def add_score(self, image_id: int, model_id: str, result: ScoreResult) -> Candidate | None: ...

    def add_scores(
        self, model_id: str, scored: Sequence[tuple[int, ScoreResult]]
    ) -> list[tuple[ImageRecord, Candidate | None]]:
        """Scores of stored images in one transaction, each with its record and candidate."""
        ...

    def latest_score(self, image_id: int, model_id: str) -> ScoreResult | None: ...

    def recent_scores(self, model_id: str, limit: int = ...) -> list[ScoreResult]: ...

    def save_calibration(self, calibration: Calibration) -> Calibration: ...

    def latest_calibration(self, model_id: str, group: ImageGroup) -> Calibration | None: ...

    def calibration_by_version(self, version: int) -> Calibration | None: ...

    def count_normal_scores(
        self, model_id: str, calibration_version: int, *, rule: ReferenceRule = ...
    ) -> int:
        """How many images this calibration has judged normal by `rule`'s verdicts (its
        refit schedule)."""
        ...


class CandidateStore(Protocol):
    """The review queue: candidates, their filters and their learned ranking."""

    def keep_for_review(self, image_ids: Sequence[int], model_id: str) -> int:
        """Queue these images for review whatever their verdict (a first run's most unusual)."""
        ...

    def candidates(
        self,
        verdicts: Sequence[Verdict] = ...,
        limit: int = ...,
        offset: int = ...,
        *,
        source_id: str | None = ...,
        label_state: LabelState = ...,
        catalog_verdicts: Sequence[CatalogVerdict] = ...,
        min_score: float | None = ...,
        order: CandidateOrder = ...,
    ) -> list[Candidate]: ...

    def query_candidates(
        self, flt: CandidateFilter | None = ..., limit: int = ..., offset: int = ...
    ) -> list[Candidate]: ...

    def count_candidates(self, flt: CandidateFilter | None = ...) -> int: ...

    def get_candidate(self, image_id: int) -> Candidate | None: ...

    def set_rank_score(self, image_id: int, rank_score: float | None) -> None: ...

    def set_rank_scores(self, scores: Sequence[tuple[int, float]]) -> None: ...


class CrossMatchStore(Protocol):
    """Catalog answers per image and service, and the candidates still waiting for one."""

    def save_crossmatch(self, image_id: int, result: CrossMatch) -> None: ...

    def save_crossmatches(self, image_id: int, results: Sequence[CrossMatch]) -> Candidate | None:
        """All catalogs' answers for one image in one transaction; the updated candidate."""
        ...

    def pending_crossmatches(
        self, limit: int, verdicts: Sequence[Verdict] = ...
    ) -> list[Candidate]: ...


class LearningStore(Protocol):
    """What people and models said about images: labels, annotations, training runs."""

    def add_label(self, label: Label) -> None: ...

    def labels(self, image_id: int | None = ...) -> list[Label]: ...

    def add_annotation(self, annotation: Annotation) -> Annotation: ...

    def annotations(self, image_id: int) -> list[Annotation]: ...

    def add_training_run(
        self, model_id: str, parameters: dict[str, Any], data_description: str
    ) -> TrainingRun: ...

    def finish_training_run(
        self,
        run_id: int,
        *,
        status: TrainingStatus,
        metrics_before: dict[str, float],
        metrics_after: dict[str, float],
        promoted: bool,
        parameters: dict[str, Any] | None = ...,
    ) -> TrainingRun: ...

    def training_runs(self, model_id: str | None = ...) -> list[TrainingRun]: ...


class RunStore(Protocol):
    """What a run leaves for the next: quarantined URIs, source cursors, small settings."""

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

    def quarantined(self) -> list[QuarantineEntry]: ...

    def get_cursor(self, source_id: str) -> str | None: ...

    def set_cursor(self, source_id: str, cursor: str) -> None: ...

    def set_cursors(self, cursors: Mapping[str, str]) -> None: ...

    def get_value(self, key: str) -> str | None: ...

    def set_value(self, key: str, value: str) -> None: ...


class StatsStore(Protocol):
    """Totals and health of the store, for the status bar and `doctor`."""

    def stats(self) -> StoreStats: ...

    def hourly_counts(self, hours: int = ...) -> list[int]: ...

    def integrity_check(self) -> str: ...


class Repository(
    ImageStore,
    VectorStore,
    ScoreStore,
    CandidateStore,
    CrossMatchStore,
    LearningStore,
    RunStore,
    StatsStore,
    Protocol,
):
    """The whole store: every port above, and closing it (the composition root does)."""

    def close(self) -> None: ...
