"""Re-rank candidates from the user's labels, trusting them only where they are nearby.

The unsupervised ensemble score knows nothing about what this user finds interesting: in
anomaly searches it is dominated by artefacts until people say otherwise (Astronomaly, Lochner
& Bassett 2021; Etsebeth et al. 2024). Each label is evidence about its neighbourhood in
embedding space, so the blended score is a kernel-weighted average in which the unsupervised
score counts as `prior_weight` pseudo-labels:

    k(x) = (sum_i w_i(x) y_i + kappa u(x)) / (sum_i w_i(x) + kappa),   w_i = exp(-d_i^2 / 2h^2)

Far from every label (sum w -> 0) this is the unsupervised rank u(x); next to labels it is
their verdict. trust(x) = sum w / (sum w + kappa) says which one spoke. Once both classes have
a few labels, a regularised logistic model over (embedding, unsupervised score) adds what the
labels say globally (e.g. "this survey's blue cores are boring"), which the local kernel
cannot; it is averaged into the prior so that it, too, gives way to nearby labels. A head that
a fine-tuning run promoted (it beat the previous one on held-out labels) comes in the same way,
as `learned_prior`: it has been validated, while the in-place logistic model has not.

Pure numpy + scikit-learn, blocking: run it in the ml executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Ranking:
    """Per pool row: `score` (higher = show first, in [0, 1]) and why."""

    score: Array
    prior: Array  # the unsupervised score as a rank fraction in the pool
    learned: Array  # what the labels alone say: P(interesting); the prior where no labels
    trust: Array  # weight of the labels in `score`, in [0, 1)


def rank_fraction(values: npt.ArrayLike) -> Array:
    """Average-tie ranks scaled to [0, 1]; a pool of one gets 1."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n <= 1:
        return np.ones(n)
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(n)
    ranks[order] = np.arange(n, dtype=np.float64)
    # average the ranks of ties, so equal scores are never ordered by their position
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return np.asarray(sums[inverse] / counts[inverse] / (n - 1))


def _unit(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    m = np.asarray(x, dtype=np.float32)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def typical_spacing(x: npt.NDArray[np.float32], sample: int = 512, seed: int = 0) -> float:
    """Median squared distance from a point to its nearest pool neighbour (a sample of rows,
    so the cost stays O(sample * N) however large the pool is)."""
    n = len(x)
    if n < 2:
        return 1.0
    rows = np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False)
    d2 = np.clip(2.0 - 2.0 * (x[rows] @ x.T), 0.0, None)
    d2[np.arange(len(rows)), rows] = np.inf
    nearest = d2.min(axis=1)
    return float(max(np.median(nearest), 1e-6))


class LabelAwareRanker:
    """`rank(features, unsupervised, labels)`: the pool's blended ranking.

    `bandwidth_scale` sets the kernel width in units of the typical nearest-neighbour spacing
    (a label speaks for roughly its few nearest neighbours); `prior_weight` is kappa above.
    """

    def __init__(
        self,
        *,
        prior_weight: float = 1.0,
        bandwidth_scale: float = 3.0,
        linear_min_per_class: int = 3,
        linear_c: float = 0.1,
        seed: int = 0,
    ) -> None:
        if prior_weight <= 0 or bandwidth_scale <= 0:
            raise ValueError("prior_weight and bandwidth_scale must be positive")
        self.prior_weight = prior_weight
        self.bandwidth_scale = bandwidth_scale
        self.linear_min_per_class = linear_min_per_class
        self.linear_c = linear_c
        self.seed = seed

    def rank(
        self,
        features: npt.ArrayLike,
        unsupervised: npt.ArrayLike,
        labels: Mapping[int, bool],
        learned_prior: npt.ArrayLike | None = None,
    ) -> Ranking:
        """`labels` maps pool row -> interesting (true positive) or not (false positive);
        `learned_prior` is a promoted head's P(interesting) per pool row, if there is one."""
        x = _unit(features)
        u_raw = np.asarray(unsupervised, dtype=np.float64)
        if x.ndim != 2 or len(x) != len(u_raw):
            raise ValueError(f"features {x.shape} and scores {u_raw.shape} disagree")
        prior = rank_fraction(u_raw)
        head = None if learned_prior is None else np.asarray(learned_prior, dtype=np.float64)
        if head is not None and head.shape != prior.shape:
            raise ValueError(f"learned prior {head.shape} and scores {prior.shape} disagree")
        if not labels:
            if head is None:
                return Ranking(prior, prior, prior.copy(), np.zeros(len(x)))
            base = 0.5 * (prior + head)
            return Ranking(base, prior, head, np.zeros(len(x)))
        rows = np.fromiter(labels.keys(), dtype=np.int64)
        if rows.min() < 0 or rows.max() >= len(x):
            raise IndexError("a label points outside the pool")
        y = np.array([1.0 if labels[int(r)] else 0.0 for r in rows])

        linear = self._linear(x, prior, rows, y)
        global_models = [m for m in (linear, head) if m is not None]
        base = np.mean([prior, *global_models], axis=0) if global_models else prior
        linear = np.mean(global_models, axis=0) if global_models else None

        h2 = self.bandwidth_scale * typical_spacing(x, seed=self.seed)
        d2 = np.clip(2.0 - 2.0 * (x @ x[rows].T), 0.0, None).astype(np.float64)
        w = np.exp(-d2 / (2.0 * h2))
        mass = w.sum(axis=1)
        learned_local = np.where(mass > 1e-12, (w @ y) / np.maximum(mass, 1e-12), base)
        trust = mass / (mass + self.prior_weight)
        score = (1.0 - trust) * base + trust * learned_local
        learned = learned_local if linear is None else np.where(mass > 1e-3, learned_local, linear)
        return Ranking(score, prior, learned, trust)

    def _linear(
        self, x: npt.NDArray[np.float32], prior: Array, rows: npt.NDArray[np.int64], y: Array
    ) -> Array | None:
        positives = int(y.sum())
        if min(positives, len(y) - positives) < self.linear_min_per_class:
            return None
        from sklearn.linear_model import LogisticRegression

        # Standardise: unit vectors have tiny components, which an L2 penalty would crush.
        centred = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-6)
        design = np.hstack([centred, 3.0 * (prior[:, None] - 0.5)]).astype(np.float32)
        model = LogisticRegression(C=self.linear_c, class_weight="balanced", max_iter=1000)
        model.fit(design[rows], y.astype(int))
        return np.asarray(model.predict_proba(design)[:, 1], dtype=np.float64)
