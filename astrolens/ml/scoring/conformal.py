"""Conformal p-values against a reference.

Calibration here is K-fold *out-of-fold* scoring (cross-conformal calibration): the reference is
split in K folds, detectors are fitted on K-1 of them and score the held-out fold, so every
reference image gets a score from a model that never saw it and n_cal = N. The models that
score new images are then refitted on the whole reference. Why this over split conformal:
references are small (tens to hundreds of images) and a split would halve both the fit and the
p-value resolution (p >= 1/(n_cal+1)). The refitted model has seen (K/(K-1))x more data, so it
places new normal images slightly *closer* to the reference than the calibration scores were:
the bias makes p-values conservative (a little too large), never anti-conservative, which is
the safe side for false-discovery control. The uniformity test measures how small it is.
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
) -> Array:
    """(N, n_detectors) scores of each reference vector by detectors fitted without its fold."""
    n = len(reference)
    n_folds = max(2, min(n_folds, n))
    folds = fold_ids(n, n_folds, seed)
    out = np.empty((n, len(factories)))
    for f in range(n_folds):
        held = folds == f
        train = reference[~held]
        for d, make in enumerate(factories):
            out[held, d] = make().fit(train).score(reference[held])
    return out
