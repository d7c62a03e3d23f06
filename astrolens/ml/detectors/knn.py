"""k-nearest-neighbour detector: cosine distance to the reference (Sun et al. 2022, "KNN-OOD").

Written by hand (not pytorch-ood) because the only hard part is the search, and FAISS does that;
small references use an exact numpy product, which is faster than building an index and has no
import cost.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from astrolens.ml.detectors._arrays import Matrix, NotFittedError, Scores, as_matrix, l2_normalise

Reduce = Literal["mean", "kth"]

# Below this many reference vectors an exact (N_query, N_ref) product is cheaper than FAISS.
FAISS_MIN_REFERENCE = 4096


class KNNDetector:
    """Score = cosine distance (1 - cos) to the k-th nearest, or the mean of the k nearest,
    reference vectors. Inputs are L2-normalised here again, so cosine = inner product."""

    def __init__(self, k: int = 5, reduce: Reduce = "mean", name: str | None = None) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        if reduce not in ("mean", "kth"):
            raise ValueError(f"reduce must be 'mean' or 'kth', not {reduce!r}")
        self.k = k
        self.reduce: Reduce = reduce
        self.name = name or f"knn{k}"
        self._reference: Matrix | None = None
        self._index: Any = None

    @property
    def fitted(self) -> bool:
        return self._reference is not None

    def fit(self, features: Matrix) -> KNNDetector:
        ref = l2_normalise(as_matrix(features))
        if len(ref) == 0:
            raise ValueError("kNN needs at least one reference vector")
        self._reference = ref
        self._index = None
        if len(ref) >= FAISS_MIN_REFERENCE:
            import faiss  # lazy: faiss is slow to import and unneeded for small references

            self._index = faiss.IndexFlatIP(ref.shape[1])
            self._index.add(ref)
        return self

    def score(self, features: Matrix) -> Scores:
        """Distances of new points to the reference."""
        ref = self._require()
        x = l2_normalise(as_matrix(features, dim=ref.shape[1]))
        sims = self._top_similarities(x, min(self.k, len(ref)), exclude_self=False)
        return self._reduce(sims)

    def score_reference(self) -> Scores:
        """Leave-one-out distances of the reference to the rest of it (each point excluded from
        its own neighbours), for calibration and for transductive ranking."""
        ref = self._require()
        if len(ref) < 2:
            raise ValueError("leave-one-out needs at least two reference vectors")
        sims = self._top_similarities(ref, min(self.k, len(ref) - 1), exclude_self=True)
        return self._reduce(sims)

    def _require(self) -> Matrix:
        if self._reference is None:
            raise NotFittedError(f"{self.name} is not fitted")
        return self._reference

    def _reduce(self, sims: np.ndarray) -> Scores:
        dist = 1.0 - sims.astype(np.float64)
        return dist.mean(axis=1) if self.reduce == "mean" else dist[:, -1]

    def _top_similarities(self, x: Matrix, k: int, *, exclude_self: bool) -> np.ndarray:
        """(N, k) similarities, descending. With exclude_self, x is the reference and row i
        never counts itself (by index, so exact duplicates of i still count as neighbours)."""
        ref = self._require()
        extra = 1 if exclude_self else 0
        if self._index is not None:
            sims, idx = self._index.search(x, k + extra)
        else:
            full = x @ ref.T
            kk = k + extra
            part = np.argpartition(-full, kk - 1, axis=1)[:, :kk]
            psims = np.take_along_axis(full, part, axis=1)
            order = np.argsort(-psims, axis=1)
            sims, idx = np.take_along_axis(psims, order, axis=1), np.take_along_axis(part, order, 1)
        if not exclude_self:
            return np.asarray(sims[:, :k])
        rows = np.arange(len(x))[:, None]
        keep = idx != rows
        # Each row keeps its first k non-self entries (self appears at most once).
        out = np.empty((len(x), k), dtype=np.float64)
        for i in range(len(x)):
            out[i] = sims[i][keep[i]][:k]
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"reference": self._require()}, {"k": self.k, "reduce": self.reduce}

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], name: str
    ) -> KNNDetector:
        return cls(k=int(meta["k"]), reduce=meta["reduce"], name=name).fit(arrays["reference"])
