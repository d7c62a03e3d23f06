"""`astrolens score`: fit the ensemble on a reference folder, score query images, write CSV.

This is the benchmark contract of DESIGN.md, and a user feature in its own right ("how odd are
these images compared with those?"). Each file is scored as one image (no stamp cutting).
Decoding runs on the io threads while the model embeds the previous batch.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from astrolens.domain.errors import AstroLensError, UnreadableImageError
from astrolens.domain.images import DecodedImage, FloatImage, Provenance, RawImage
from astrolens.domain.ports import Decoder, Detector, Embedder, Matrix

if TYPE_CHECKING:
    from astrolens.ml.features.patches import Lite0PatchFeatures
    from astrolens.ml.scoring.ensemble import EnsembleScorer
    from astrolens.services.context import ServiceContext

# One row of `astrolens score`'s CSV: column -> value.
ScoreRow = dict[str, object]

log = logging.getLogger(__name__)


def list_images(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders expanded recursively, in a stable order (no triplet grouping:
    each file is scored on its own)."""
    from astrolens.sources.folder import is_supported

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_supported(p.name)))
        elif path.is_file() and is_supported(path.name):
            found.append(path)
    return found


@dataclass
class ScoreStats:
    reference: int = 0
    queries: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        total = self.reference + self.queries
        return total / self.seconds if self.seconds > 0 else 0.0


def _decode_whole(decoder: Decoder, path: Path) -> DecodedImage:
    raw = RawImage(
        provenance=Provenance(source_id="score", uri=str(path)),
        name=path.name,
        data=path.read_bytes(),
    )
    images = decoder.decode(raw)
    whole = [im for im in images if im.parent_uri is None]
    if not whole:
        raise UnreadableImageError(f"{path}: no image found")
    return whole[0]


def decode_stored(decoder: Decoder, path: Path) -> DecodedImage:
    """A stored image file as the model saw it: original bytes are decoded again; the .npy
    arrays (stamps cut from frames, ZTF triplets) already hold the decoded [0, 1] pixels."""
    if path.suffix == ".npy":
        from astrolens.imaging.display import load_stored_pixels

        pixels = load_stored_pixels(path)
        return DecodedImage(
            provenance=Provenance(source_id="store", uri=str(path)),
            pixels=pixels,
            content_hash="",
            perceptual_hash="",
        )
    return _decode_whole(decoder, path)


class StackedFeatures:
    """The product's embedding followed by the opt-in local features, one row per image:
    `thorough` appends Lite0 patch features (PatchCore), `morphology` the shape statistics.
    `detectors()` gives each detector a ColumnView of its own block."""

    def __init__(self, embedder: Embedder, *, thorough: bool, morphology: bool) -> None:
        self.embedder = embedder
        self.thorough, self.morphology = thorough, morphology
        self._patches: Lite0PatchFeatures | None = None
        if thorough:
            from astrolens.ml.features.patches import Lite0PatchFeatures

            self._patches = Lite0PatchFeatures()

    @property
    def dim(self) -> int:
        from astrolens.ml.detectors.morphology import FEATURES

        dim = int(getattr(self.embedder, "dim", 0))
        dim += self._patches.dim if self._patches is not None else 0
        return dim + (len(FEATURES) if self.morphology else 0)

    def embed(self, pixels: Sequence[FloatImage]) -> Matrix:
        blocks = [self.embedder.embed(pixels)]
        if self._patches is not None:
            blocks.append(self._patches.embed(pixels))
        if self.morphology:
            from astrolens.ml.detectors.morphology import morphology_features

            blocks.append(morphology_features(pixels))
        return np.hstack(blocks).astype(np.float32, copy=False)

    def detectors(self) -> list[Callable[[], Detector]]:
        from astrolens.ml.detectors import KNNDetector, MahalanobisDetector
        from astrolens.ml.detectors.views import ColumnView

        width = int(self.embedder.dim)
        factories: list[Callable[[], Detector]] = [
            lambda: ColumnView(KNNDetector(k=5), 0, width),
            lambda: ColumnView(MahalanobisDetector(), 0, width),
        ]
        start = width
        if self._patches is not None:
            from astrolens.ml.detectors.patchcore import PatchCoreDetector
            from astrolens.ml.features.patches import PATCH_DIM

            # Each factory closes over its own block's bounds (never reassigned).
            patch_start, patch_stop = start, start + self._patches.dim
            factories.append(
                lambda: ColumnView(PatchCoreDetector(PATCH_DIM), patch_start, patch_stop)
            )
            start = patch_stop
        if self.morphology:
            from astrolens.ml.detectors.morphology import MorphologyDetector

            morphology_start = start
            factories.append(lambda: ColumnView(MorphologyDetector(), morphology_start, None))
        return factories


def embed_paths(
    app: ServiceContext,
    paths: Sequence[Path],
    batch_size: int = 32,
    embedder: Embedder | StackedFeatures | None = None,
) -> tuple[list[Path], Matrix, list[tuple[Path, str]]]:
    """Embed every readable file; returns (kept paths, (N, D) matrix, [(path, reason)])."""
    decoder = app.decoder
    embeds = embedder if embedder is not None else app.embedder
    futures: list[Future[DecodedImage]] = [
        app.executors.io.submit(_decode_whole, decoder, p) for p in paths
    ]
    kept: list[Path] = []
    failed: list[tuple[Path, str]] = []
    chunks: list[Matrix] = []
    batch: list[DecodedImage] = []

    def flush() -> None:
        if batch:
            pixels = [im.pixels for im in batch]
            chunks.append(app.executors.ml.submit(embeds.embed, pixels).result())
            batch.clear()

    for path, future in zip(paths, futures, strict=True):
        try:
            image = future.result()
        except (AstroLensError, OSError) as exc:
            failed.append((path, str(exc)))
            log.warning("skipped %s: %s", path, exc)
            continue
        kept.append(path)
        batch.append(image)
        if len(batch) >= batch_size:
            flush()
    flush()
    dim = int(getattr(embeds, "dim", 0))
    matrix = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return kept, matrix, failed


@dataclass
class FittedReference:
    """The ensemble fitted on a reference folder, with what went into it."""

    scorer: EnsembleScorer
    vectors: Matrix
    paths: list[Path]
    failed: list[tuple[Path, str]]


def backbone_notice(embedder: Embedder) -> str | None:
    """Licence and citation of a published backbone (Zoobot), said once its weights loaded."""
    backbone = getattr(embedder, "inner", embedder)
    citation = getattr(backbone, "citation", None)
    if not citation:
        return None
    licence = getattr(backbone, "licence", None) or "see the model card"
    return f"backbone {backbone.model_id}: licence {licence}; please cite {citation}"


def fit_reference(
    app: ServiceContext, reference_dir: Path, stack: StackedFeatures | None = None
) -> FittedReference:
    """Embed the reference folder and fit the app's scorer on it (`score` and `batch` share
    this, so both judge a query against the same model). `stack`: the opt-in local features
    and their detectors (`score --thorough/--morphology`)."""
    ref_paths = list_images([reference_dir])
    if not ref_paths:
        raise AstroLensError(f"no images in reference folder {reference_dir}")
    kept, reference, failed = embed_paths(app, ref_paths, embedder=stack)
    notice = backbone_notice(app.embedder)
    if notice:
        log.warning("%s", notice)
    if len(reference) < 2:
        raise AstroLensError(f"need at least 2 readable reference images, got {len(reference)}")
    scorer = app.scorer() if stack is None else app.scorer(stack.detectors())
    app.executors.ml.submit(
        lambda: scorer.fit(reference, group="survey", model_id=app.embedder.model_id)
    ).result()
    return FittedReference(scorer, reference, kept, failed)


def score_paths(
    app: ServiceContext,
    reference_dir: Path,
    queries: Sequence[Path],
    *,
    thorough: bool = False,
    morphology: bool = False,
) -> tuple[list[ScoreRow], ScoreStats]:
    """`thorough` adds PatchCore-mean (local evidence, ~4x the cost per image: see README),
    `morphology` the morphology detector; both join the calibrated ensemble."""
    stack = (
        StackedFeatures(app.embedder, thorough=thorough, morphology=morphology)
        if thorough or morphology
        else None
    )
    started = time.perf_counter()
    stats = ScoreStats()
    query_paths = list_images(queries)
    if not query_paths and list_images([reference_dir]):
        raise AstroLensError("no query images found")
    fitted = fit_reference(app, reference_dir, stack)
    scorer, reference, ref_failed = fitted.scorer, fitted.vectors, fitted.failed
    kept, features, failed = embed_paths(app, query_paths, embedder=stack)
    results = app.executors.ml.submit(scorer.score, features).result() if len(kept) else []
    rows: list[ScoreRow] = []
    for path, result in zip(kept, results, strict=True):
        row: ScoreRow = {
            "path": str(path),
            "score": result.score,
            "verdict": result.verdict.value,
            "p_value": result.p_value,
        }
        row.update({f"det_{k}": v for k, v in sorted(result.detector_scores.items())})
        rows.append(row)
    for path, reason in failed:
        rows.append(
            {
                "path": str(path),
                "score": "",
                "verdict": "unreadable",
                "p_value": "",
                "error": reason,
            }
        )
    stats.reference = len(reference)
    stats.queries = len(kept)
    stats.failed = len(failed) + len(ref_failed)
    stats.seconds = time.perf_counter() - started
    return rows, stats


def write_scores_csv(rows: Sequence[Mapping[str, object]], fh: IO[str]) -> None:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
