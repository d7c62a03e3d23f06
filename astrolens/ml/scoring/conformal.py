"""Conformal p-values against a reference.

Calibration here is K-fold *out-of-fold* scoring (cross-conformal calibration): the reference is
split in K folds, detectors are fitted on K-1 of them and score the held-out fold, so every
reference image gets a score from a model that never saw it and n_cal = N. Why this over split
conformal: references are small (tens to hundreds of images) and a split would halve both the
fit and the p-value resolution (p >= 1/(n_cal+1)).

New images are scored by the model of one fold (fitted on (K-1)/K of the reference), not by a
model refitted on all of it. A refit looked free but is not: scores depend on the training
size (a Mahalanobis detector's PCA keeps more components with more data, and a squared distance
grows with the dimension), and on the HSC bench a refit made held-out normal images' mean
p-value 0.24 instead of 0.5 (anti-conservative). With same-size models the held-out fold of the
scoring model is exactly split-conformal, and the other folds are the usual cross-conformal
approximation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from astrolens.domain.ports import Detector

Array = npt.NDArray[np.float64]


def conformal_p_values(calibration: npt.ArrayLike, scores: npt.ArrayLike) -> Array:
    """p = (1 + #{calibration >= s}) / (n_cal + 1) for each s (higher score = more anomalous)."""
    cal = np.sort(np.asarray(calibration, dtype=np.float64))
    s = np.asarray(scores, dtype=np.float64)
    at_least = len(cal) - np.searchsorted(cal, s, side="left")
    return (1.0 + at_least) / (len(cal) + 1.0)


def leave_one_out_p_values(calibration: npt.ArrayLike) -> Array:
    """Each calibration score's p-value against the *other* calibration scores: what a new
    exchangeable image with that score would get, so calibration and new images are treated
    alike when their p-values are combined."""
    cal = np.asarray(calibration, dtype=np.float64)
    srt = np.sort(cal)
    at_least = len(cal) - np.searchsorted(srt, cal, side="left") - 1  # minus the point itself
    return (1.0 + at_least) / len(cal)


def fold_ids(n: int, n_folds: int, seed: int) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    return np.asarray(rng.permutation(np.arange(n) % n_folds), dtype=np.int64)


def out_of_fold_scores(
    factories: Sequence[Callable[[], Detector]],
    reference: npt.NDArray[np.float32],
    n_folds: int,
    seed: int = 0,
) -> tuple[Array, list[Detector]]:
    """(N, n_detectors) scores of each reference vector by detectors fitted without its fold,
    and the detectors of the first fold (the ones that go on scoring new images)."""
    n = len(reference)
    n_folds = max(2, min(n_folds, n))
    folds = fold_ids(n, n_folds, seed)
    out = np.empty((n, len(factories)))
    kept: list[Detector] = []
    for f in range(n_folds):
        held = folds == f
        train = reference[~held]
        for d, make in enumerate(factories):
            detector = make().fit(train)
            out[held, d] = detector.score(reference[held])
            if f == 0:
                kept.append(detector)
    return out, kept
