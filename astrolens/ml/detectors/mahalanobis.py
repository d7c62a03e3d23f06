"""Mahalanobis detectors (Lee et al. 2018) and relative Mahalanobis (Ren et al. 2021).

The Gaussian fits use scikit-learn's Ledoit-Wolf estimator: it picks the shrinkage from the data
in closed form, which is what makes a covariance usable when the reference is small next to the
dimension (pytorch-ood's version uses a plain pseudo-inverse). When N is not well above D the
vectors are first projected on a PCA fitted on the reference. After fitting only numpy arrays
remain (mean, projection, precision), so scoring needs no scikit-learn and the state persists as
plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from astrolens.ml.detectors._arrays import Matrix, NotFittedError, Scores, as_matrix

# PCA keeps at most this fraction of N components: a covariance of D dims wants N >> D.
_MAX_COMPONENTS_PER_SAMPLE = 0.5


def _components_to_keep(n: int, d: int, n_components: int | None) -> int | None:
    """How many principal axes a fit on n vectors of d dims keeps; None: no reduction."""
    cap = max(1, int(n * _MAX_COMPONENTS_PER_SAMPLE))
    if n_components is None:
        return None if d <= cap else cap
    return min(n_components, cap, d)


def _pca_projection(
    x: npt.NDArray[np.float64], n_components: int | float | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(centre, components.T) of a PCA of x; identity when no reduction is needed."""
    n, d = x.shape
    if not isinstance(n_components, float):
        k = _components_to_keep(n, d, n_components)
        if k is None:
            return np.zeros(d), np.eye(d)
        if n <= d:
            return _top_components_by_gram(x, k)
        return _top_components_by_covariance(x, k)
    from sklearn.decomposition import PCA  # a variance fraction: sklearn picks the count

    pca = PCA(n_components=n_components, svd_solver="full").fit(x)
    return pca.mean_.astype(np.float64), pca.components_.T.astype(np.float64)


def _top_components_by_covariance(
    x: npt.NDArray[np.float64], k: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The top-k principal axes from the (D, D) scatter matrix, for N > D: the same subspace
    as a full SVD of the N x D data (see `_top_components_by_gram`), from a smaller matrix."""
    centre = x.mean(axis=0)
    xc = x - centre
    _, vectors = np.linalg.eigh(xc.T @ xc)
    components = vectors[:, ::-1][:, :k]
    return centre.astype(np.float64), np.ascontiguousarray(components, dtype=np.float64)


def _top_components_by_gram(
    x: npt.NDArray[np.float64], k: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The top-k principal axes from the (N, N) Gram matrix, for N <= D.

    Same subspace as a full SVD (it is the same decomposition: X X^T = U S^2 U^T and the axes
    are X^T U / S), but only the k wanted eigenpairs are computed, from a matrix no larger
    than N x N: the scan profile had full-SVD PCA at 81 % of a Mahalanobis fit. The basis
    may differ from sklearn's by signs and rotations within the subspace, which no
    Mahalanobis distance or Ledoit-Wolf shrinkage sees (both are rotation invariant).
    """
    centre = x.mean(axis=0)
    xc = x - centre
    _, vectors, safe = _top_gram_eigenpairs(xc @ xc.T, k)
    components = (xc.T @ vectors) / safe
    return centre.astype(np.float64), np.ascontiguousarray(components, dtype=np.float64)


def _top_gram_eigenpairs(
    centred_gram: npt.NDArray[np.float64], k: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(eigenvalues, eigenvectors, axis scales) of the top k, descending like PCA. A scale
    is the square root of its eigenvalue, inf for an axis with no variance (a
    rank-deficient reference): dividing by it gives that axis a zero column, like a PCA
    component that carries nothing."""
    # All eigenpairs, then the top k: for N in the hundreds LAPACK's full solver is faster
    # than asking it for a subset.
    values, vectors = np.linalg.eigh(centred_gram)
    values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
    scale = np.sqrt(np.clip(values, 0.0, None))
    safe = np.where(scale > 1e-12 * max(1.0, float(scale[0]) if len(scale) else 1.0), scale, np.inf)
    return values, vectors, safe


# Off-diagonal covariance below this fraction of the largest variance is rounding, not signal.
_DIAGONAL_TOLERANCE = 1e-10


def _ledoit_wolf_shrinkage(x: npt.NDArray[np.float64], scatter: npt.NDArray[np.float64]) -> float:
    """Ledoit-Wolf shrinkage of centred data `x` with `scatter` = x.T @ x: the formula of
    scikit-learn's `ledoit_wolf_shrinkage(assume_centered=True)` (BSD-3), without importing
    scikit-learn (that import alone cost a scan about 120 MB and a second of start-up).

    Its two sums need no (D, D) products of their own: sum((x**2).T @ x**2) is the sum over
    samples of each sample's squared norm, squared (an identity), and sum((x.T @ x)**2) is
    read off the scatter the covariance needs anyway. scikit-learn forms both products, which
    cost two of a fit's three largest matrix products; the result agrees to rounding
    (tests/ml/test_detectors.py holds the distances to scikit-learn's at 1e-8)."""
    n, d = x.shape
    x2 = x**2
    trace = np.sum(x2, axis=0) / n
    mu = np.sum(trace) / d
    beta_ = float(np.sum(np.sum(x2, axis=1) ** 2))
    delta_ = float(np.sum(scatter**2)) / n**2
    beta = 1.0 / (d * n) * (beta_ / n - delta_)
    delta = (delta_ - 2.0 * mu * trace.sum() + d * mu**2) / d
    beta = min(beta, delta)
    return 0.0 if beta == 0 else float(beta / delta)


def _ledoit_wolf_precision(centred: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The precision of the Ledoit-Wolf shrunk covariance (as sklearn's LedoitWolf with
    assume_centered=True: the same shrinkage, covariance and scipy pseudo-inverse)."""
    from scipy.linalg import pinvh

    x = np.asarray(centred, dtype=np.float64)
    n, d = x.shape
    if d == 1:  # one feature: any shrinkage gives the same covariance
        return np.asarray(pinvh(np.atleast_2d((x**2).mean()), check_finite=False))
    scatter = np.dot(x.T, x)
    shrinkage = _ledoit_wolf_shrinkage(x, scatter)
    covariance = scatter / n
    mu = np.sum(np.trace(covariance)) / d
    shrunk = (1.0 - shrinkage) * covariance
    shrunk.flat[:: d + 1] += shrinkage * mu
    diagonal = np.diag(shrunk)
    off_diagonal = shrunk - np.diag(diagonal)
    if np.abs(off_diagonal).max() <= _DIAGONAL_TOLERANCE * np.abs(diagonal).max():
        # PCA scores are uncorrelated, so after a single-class PCA this covariance is
        # diagonal up to rounding: invert it directly, with pinvh's cut-off for a null
        # direction, instead of an eigendecomposition (12 % of a fit; equal to 1e-12).
        cutoff = np.abs(diagonal).max() * d * np.finfo(np.float64).eps
        safe = np.where(np.abs(diagonal) > cutoff, diagonal, np.inf)
        return np.diag(1.0 / safe)
    return np.asarray(pinvh(shrunk, check_finite=False), dtype=np.float64)


def _squared_distances(
    z: npt.NDArray[np.float64], means: npt.NDArray[np.float64], precision: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """(N, C) squared Mahalanobis distances of every row of z to every mean."""
    out = np.empty((len(z), len(means)))
    for c, mu in enumerate(means):
        diff = z - mu
        # One matrix product (BLAS) then a row sum: einsum("ij,jk,ik->i") does the same
        # arithmetic in an unblocked loop, measured 58x slower for 500 x 1280.
        out[:, c] = ((diff @ precision) * diff).sum(axis=1)
    return out


def pseudo_classes(features: Matrix, n_classes: int, seed: int = 0) -> npt.NDArray[np.int64]:
    """k-means pseudo-labels for class-conditional detectors when no labels exist."""
    from sklearn.cluster import KMeans

    n_classes = max(1, min(n_classes, len(features) // 5))
    km = KMeans(n_clusters=n_classes, n_init=4, random_state=seed).fit(features)
    return np.asarray(km.labels_, dtype=np.int64)


@dataclass(frozen=True)
class FoldGram:
    """A reference's vectors (float64) and the Gram matrix of their centred copies."""

    x: npt.NDArray[np.float64]
    gram: npt.NDArray[np.float64]


class MahalanobisDetector:
    """Squared Mahalanobis distance to the reference Gaussian.

    With `n_classes > 1` it is class-conditional with a tied covariance (Lee et al.): the score
    is the distance to the nearest class mean, classes being k-means clusters of the reference
    unless labels are given to `fit`.
    """

    def __init__(
        self,
        n_components: int | float | None = None,
        n_classes: int = 1,
        name: str | None = None,
        seed: int = 0,
    ) -> None:
        self.n_components = n_components
        self.n_classes = n_classes
        self.seed = seed
        self.name = name or ("mahalanobis" if n_classes == 1 else f"mahalanobis_c{n_classes}")
        self._centre: npt.NDArray[np.float64] | None = None
        self._proj: npt.NDArray[np.float64] | None = None
        self._means: npt.NDArray[np.float64] | None = None
        self._precision: npt.NDArray[np.float64] | None = None

    def fit(
        self, features: Matrix, labels: npt.NDArray[np.integer] | None = None
    ) -> MahalanobisDetector:
        x = as_matrix(features).astype(np.float64)
        if len(x) < 2:
            raise ValueError("Mahalanobis needs at least two reference vectors")
        self._centre, self._proj = _pca_projection(x, self.n_components)
        z = (x - self._centre) @ self._proj
        if labels is None:
            labels = (
                pseudo_classes(z.astype(np.float32), self.n_classes, self.seed)
                if self.n_classes > 1
                else np.zeros(len(z), dtype=np.int64)
            )
        classes = np.unique(labels)
        self._means = np.stack([z[labels == c].mean(axis=0) for c in classes])
        centred = z - self._means[np.searchsorted(classes, labels)]
        self._precision = _ledoit_wolf_precision(centred)
        return self

    # -- K-fold fitting from one Gram matrix -------------------------------------------------
    def fold_context(self, reference: Matrix) -> FoldGram | None:
        """What `fit_fold` shares across the K folds of one reference: its vectors and their
        Gram matrix, computed once. None when a fold fit would not take the Gram route (a
        class-conditional fit, a variance-fraction PCA, more images than dimensions)."""
        if self.n_classes != 1 or isinstance(self.n_components, float):
            return None
        x = as_matrix(reference).astype(np.float64)
        if len(x) > x.shape[1]:
            # Folds this large fit from the (D, D) scatter: an N x N Gram matrix would be
            # work and memory for nothing (200 MB for a 5,000-image reference).
            return None
        # Centred once on the whole reference: each fold centres again on its own mean
        # (translation changes no distance), and the Gram entries keep their precision.
        centred = x - x.mean(axis=0)
        return FoldGram(x, centred @ centred.T)

    def fit_fold(self, shared: FoldGram, train: npt.NDArray[np.bool_], keep: bool) -> Scores:
        """Fit on the rows `train` of the shared reference and score the other rows: the
        same numbers as `fit(x[train])` then `score(x[~train])` (to rounding), without the
        fold's own Gram product or its projections, all read off the shared Gram matrix:
        K folds cost K eigendecompositions and one N x N x D product instead of K of
        each. `keep` also sets the projection, so this detector can score new images."""
        x = shared.x
        n, d = int(train.sum()), x.shape[1]
        wanted = self.n_components
        k = None if isinstance(wanted, float) else _components_to_keep(n, d, wanted)
        if k is None or n > d or n < 2:
            self.fit(x[train].astype(np.float32))  # not the Gram route: fit as usual
            return self.score(x[~train].astype(np.float32))
        held = ~train
        gram_tt = shared.gram[np.ix_(train, train)]
        row_mean = gram_tt.mean(axis=0)  # (x_t - m) . c' for the fold's own centre c'
        overall = float(row_mean.mean())
        centred_gram = gram_tt - row_mean[:, None] - row_mean[None, :] + overall
        values, vectors, safe = _top_gram_eigenpairs(centred_gram, k)
        # The training rows' PCA scores: X_c X_c^T V / s = V diag(lambda) / s.
        z = vectors * (values / safe)
        self._means = z.mean(axis=0, keepdims=True)
        self._precision = _ledoit_wolf_precision(z - self._means)
        cross = shared.gram[np.ix_(held, train)]
        cross_centred = cross - cross.mean(axis=1, keepdims=True) - row_mean[None, :] + overall
        held_z = (cross_centred @ vectors) / safe
        scores = _squared_distances(held_z, self._means, self._precision).min(axis=1)
        if keep:
            x_train = x[train]
            self._centre = x_train.mean(axis=0)
            self._proj = np.ascontiguousarray(((x_train - self._centre).T @ vectors) / safe)
        else:
            self._centre = self._proj = None
        return scores

    def score(self, features: Matrix) -> Scores:
        if self._proj is None or self._means is None or self._precision is None:
            raise NotFittedError(f"{self.name} is not fitted")
        x = as_matrix(features, dim=self._proj.shape[0]).astype(np.float64)
        z = (x - self._centre) @ self._proj
        return _squared_distances(z, self._means, self._precision).min(axis=1)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self._proj is None:
            raise NotFittedError(f"{self.name} is not fitted")
        arrays = {
            "centre": self._centre,
            "proj": self._proj,
            "means": self._means,
            "precision": self._precision,
        }
        return arrays, {"n_components": self.n_components, "n_classes": self.n_classes}  # type: ignore[return-value]

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], name: str
    ) -> MahalanobisDetector:
        det = cls(meta["n_components"], int(meta["n_classes"]), name=name)
        det._centre, det._proj = arrays["centre"], arrays["proj"]
        det._means, det._precision = arrays["means"], arrays["precision"]
        return det


class RelativeMahalanobisDetector:
    """Relative Mahalanobis (Ren et al. 2021): min over classes of MD_class(x) - MD_background(x).

    Subtracting the background Gaussian (one Gaussian over the whole reference) removes the
    directions every image varies along, e.g. overall brightness, which plain Mahalanobis
    over-weights. Classes are k-means pseudo-classes unless labels are given.
    """

    def __init__(
        self,
        n_components: int | float | None = None,
        n_classes: int = 8,
        name: str = "relative_mahalanobis",
        seed: int = 0,
    ) -> None:
        self.name = name
        self._classes = MahalanobisDetector(
            n_components, n_classes, name=f"{name}.classes", seed=seed
        )
        self._background = MahalanobisDetector(n_components, 1, name=f"{name}.background")

    def fit(
        self, features: Matrix, labels: npt.NDArray[np.integer] | None = None
    ) -> RelativeMahalanobisDetector:
        self._classes.fit(features, labels)
        self._background.fit(features)
        return self

    def score(self, features: Matrix) -> Scores:
        return self._classes.score(features) - self._background.score(features)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        ca, cm = self._classes.state()
        ba, bm = self._background.state()
        arrays = {f"classes.{k}": v for k, v in ca.items()} | {
            f"background.{k}": v for k, v in ba.items()
        }
        return arrays, {"classes": cm, "background": bm}

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], name: str
    ) -> RelativeMahalanobisDetector:
        det = cls(name=name)

        def sub(prefix: str) -> dict[str, np.ndarray]:
            return {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix)}

        det._classes = MahalanobisDetector.from_state(sub("classes."), meta["classes"], name)
        det._background = MahalanobisDetector.from_state(
            sub("background."), meta["background"], name
        )
        return det
