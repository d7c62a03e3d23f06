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

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

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


def fold_workers() -> int:
    """Threads for fitting folds at once: one per core. The fits are BLAS and LAPACK calls
    that release the GIL (one BLAS thread each, see `threads.py`), so K folds on two cores
    take about half the wall time of one after another, with the same numbers."""
    return max(1, os.cpu_count() or 1)


def _fold_context(detector: Detector, reference: npt.NDArray[np.float32]) -> object | None:
    prepare = getattr(detector, "fold_context", None)
    return prepare(reference) if prepare is not None else None


def out_of_fold_scores(
    factories: Sequence[Callable[[], Detector]],
    reference: npt.NDArray[np.float32],
    n_folds: int,
    seed: int = 0,
    workers: int | None = None,
) -> tuple[Array, list[Detector]]:
    """(N, n_detectors) scores of each reference vector by detectors fitted without its fold,
    and the detectors of the first fold (the ones that go on scoring new images).

    Folds are independent, so they are fitted on `workers` threads (default: one per core);
    each fold writes only its own rows, so the result does not depend on the order."""
    n = len(reference)
    n_folds = max(2, min(n_folds, n))
    folds = fold_ids(n, n_folds, seed)
    out = np.empty((n, len(factories)))
    # Detectors that fit a fold from what all folds share (Mahalanobis: one Gram matrix)
    # get it computed once here, before the folds run.
    shared = {d: _fold_context(make(), reference) for d, make in enumerate(factories)}

    def fit_fold(f: int) -> list[Detector]:
        held = folds == f
        train = reference[~held]
        fitted = []
        for d, make in enumerate(factories):
            detector = make()
            context = shared[d]
            if context is not None:
                out[held, d] = detector.fit_fold(context, ~held, keep=f == 0)  # type: ignore[attr-defined]
            else:
                out[held, d] = detector.fit(train).score(reference[held])
            if f == 0:  # only these go on scoring; the others are dropped as soon as done
                fitted.append(detector)
        return fitted

    threads = min(n_folds, workers if workers is not None else fold_workers())
    if threads <= 1:
        kept = fit_fold(0)
        for f in range(1, n_folds):
            fit_fold(f)
        return out, kept
    with ThreadPoolExecutor(threads, thread_name_prefix="astrolens-fold") as pool:
        fitted = list(pool.map(fit_fold, range(n_folds)))
    return out, fitted[0]
