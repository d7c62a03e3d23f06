"""The candidate queue as the re-ranker sees it: load it from the store, measure what it
lacks, rank it, save the ranks. Each function blocks and says on which executor it runs; the
pipeline's RerankScheduler puts them there."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from astrolens.domain.candidates import Candidate
from astrolens.domain.embedding import Embedding
from astrolens.domain.ports import CandidateStore, Matrix, VectorStore
from astrolens.domain.records import CandidateFilter
from astrolens.services.heads import LABEL_CLASSES, LABELS_TASK, promoted_head

if TYPE_CHECKING:
    from astrolens.ml.learning.finetune import ClassifierHead
    from astrolens.ml.learning.reranker import Ranking

log = logging.getLogger(__name__)

POOL_LIMIT = 5000  # candidates re-ranked at once: the queue a person could ever review
# Photometry measured per re-rank at most (about 25 ms each incl. decoding): a label must
# re-rank within a second; the agent catches up on the rest in the background
# (LearningService.catch_up_photometry).
PHOTOMETRY_PER_RUN = 32


class RankingStore(CandidateStore, VectorStore, Protocol):
    """What the re-ranker reads: the queue and the vectors of its candidates."""


def _no_vectors() -> Matrix:
    return np.zeros((0, 1), np.float32)


def _no_order() -> npt.NDArray[np.float64]:
    return np.zeros(0, np.float64)


@dataclass
class RankPool:
    """The candidate queue as the ranker sees it: rows that have a vector of `model_id`."""

    model_id: str
    ids: list[int] = field(default_factory=list)
    vectors: Matrix = field(default_factory=_no_vectors)  # (N, D)
    unsupervised: npt.NDArray[np.float64] = field(default_factory=_no_order)  # higher = odder
    labels: dict[int, bool] = field(default_factory=dict)  # pool row -> interesting
    head: ClassifierHead | None = None  # the promoted labels head of this model, if any
    photometry: Matrix | None = None  # (N, P), NaN rows where not measured (yet)
    unmeasured: list[tuple[int, int, str | None]] = field(default_factory=list)  # row, id, path

    def __len__(self) -> int:
        return len(self.ids)


def unsupervised_order(candidates: list[Candidate]) -> npt.NDArray[np.float64]:
    """Rank of each candidate by its calibrated p-value (smallest first), ties broken by the
    raw ensemble score. p-values are comparable across groups and calibrations, raw scores are
    not; but many candidates share the smallest possible p-value, and the score still orders
    those."""
    significance = [-math.log10(max(c.result.p_value, 1e-300)) for c in candidates]
    order = np.lexsort(([c.result.score for c in candidates], significance))
    ranks = np.empty(len(candidates), dtype=np.float64)
    ranks[order] = np.arange(len(candidates), dtype=np.float64)
    return ranks


def load_pool(repository: RankingStore, model_id: str, heads: Path | None = None) -> RankPool:
    """Blocking (db thread)."""
    candidates: list[Candidate] = repository.query_candidates(CandidateFilter(), POOL_LIMIT, 0)
    ids_with_vectors, matrix = repository.embeddings_of(model_id, [c.id for c in candidates])
    row_of = {image_id: row for row, image_id in enumerate(ids_with_vectors)}
    pool = RankPool(model_id)
    rows, kept = [], []
    for candidate in candidates:
        if candidate.id not in row_of:
            continue  # scored by another model: re-embedding will bring it back
        if candidate.label is not None and candidate.label.value.value != "unsure":
            pool.labels[len(pool.ids)] = candidate.label.value.value == "true_positive"
        pool.ids.append(candidate.id)
        rows.append(row_of[candidate.id])
        kept.append(candidate)
    pool.vectors = matrix[rows] if rows else np.zeros((0, 1), np.float32)
    pool.unsupervised = unsupervised_order(kept)
    _attach_photometry(repository, pool, kept)
    pool.head = promoted_head(heads, LABELS_TASK, model_id, pool.vectors.shape[1])
    if pool.head is not None and pool.head.classes != LABEL_CLASSES:
        pool.head = None
    return pool


def _attach_photometry(
    repository: VectorStore, pool: RankPool, candidates: list[Candidate]
) -> None:
    from astrolens.ml.features.photometry import FEATURE_NAMES, PHOTOMETRY_MODEL_ID

    ids, matrix = repository.embeddings_of(PHOTOMETRY_MODEL_ID, pool.ids)
    known = dict(zip(ids, matrix, strict=True)) if len(ids) else {}
    pool.photometry = np.full((len(pool), len(FEATURE_NAMES)), np.nan, np.float32)
    for row, candidate in enumerate(candidates):
        vector = known.get(candidate.id)
        if vector is None:
            pool.unmeasured.append((row, candidate.id, candidate.image.image_path))
        else:
            pool.photometry[row] = vector


def measure_photometry(
    pool: RankPool,
    decode: Callable[[Path], npt.ArrayLike],
    save: Callable[[list[tuple[int, Matrix]]], object],
    limit: int = PHOTOMETRY_PER_RUN,
) -> RankPool:
    """Blocking (io thread): photometry of up to `limit` pool rows that have none, newest
    first (they are what the user is about to see); `save([(image id, vector)])` stores them.
    An image that cannot be read gets a NaN vector: stored, so it is not retried each run,
    and ranked by its embedding alone."""
    from astrolens.ml.features.photometry import photometric_features, shrink

    photometry = pool.photometry
    assert photometry is not None  # load_pool gave the pool its photometry rows
    todo = sorted(pool.unmeasured, key=lambda item: -item[1])[:limit]
    measured = []
    for row, image_id, path in todo:
        vector = np.full(photometry.shape[1], np.nan, np.float32)
        try:
            if path and Path(path).exists():
                vector = photometric_features(shrink(decode(Path(path))))
        except Exception as exc:  # a broken file must not stop the ranking
            log.warning("no photometry for image %s: %s", image_id, exc)
        photometry[row] = vector
        measured.append((image_id, vector))
    done = {row for row, _, _ in todo}
    pool.unmeasured = [item for item in pool.unmeasured if item[0] not in done]
    if measured:
        save(measured)
    return pool


def save_photometry(repository: VectorStore, measured: list[tuple[int, Matrix]]) -> None:
    from astrolens.ml.features.photometry import PHOTOMETRY_MODEL_ID

    for image_id, vector in measured:
        repository.add_embedding(image_id, Embedding(PHOTOMETRY_MODEL_ID, vector))


def _ranking(pool: RankPool) -> Ranking:
    from astrolens.ml.learning.representation import ranking_features
    from astrolens.ml.learning.reranker import LabelAwareRanker

    interest = None
    if pool.head is not None:
        interest = pool.head.predict_proba(pool.vectors)[:, LABEL_CLASSES.index("interesting")]
    features = ranking_features(pool.vectors, pool.photometry)
    return LabelAwareRanker().rank(features, pool.unsupervised, pool.labels, interest)


def rank_pool(pool: RankPool) -> list[tuple[int, float]]:
    """Blocking (ml thread): (image id, rank score) for every pool row."""
    if not len(pool):
        return []
    ranking = _ranking(pool)
    return [(i, float(s)) for i, s in zip(pool.ids, ranking.score.tolist(), strict=True)]


def pick_next(pool: RankPool, n: int) -> list[int]:
    """Blocking (ml thread): image ids to ask about next."""
    if not len(pool):
        return []
    from astrolens.ml.learning.acquisition import label_next

    ranking = _ranking(pool)
    return [pool.ids[row] for row in label_next(ranking, pool.labels.keys(), n)]


def save_ranks(repository: CandidateStore, scores: list[tuple[int, float]]) -> None:
    repository.set_rank_scores(scores)
