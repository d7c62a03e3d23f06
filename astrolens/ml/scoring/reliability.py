"""Detector weights from measured reliability, without labels.

Reliability = agreement: the Spearman correlation, over the reference's out-of-fold scores, of
each detector's normalised score with the mean normalised score of all the *other* detectors.
Detectors that measure real atypicality rank the same unusual reference images high; a
detector that is noise correlates with nothing and gets weight ~0, so it cannot drown the
others. Negative agreement is clipped to 0. Weights sum to 1; when nobody agrees with anybody
(or there is a single detector) the weights are equal.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def rankdata(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks from 1, ties sharing their average rank: scipy.stats.rankdata's default, here
    because importing scipy.stats cost about a second of every scan's start-up."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1, dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    # Average rank per tie group: (sum of its ordinal ranks) / (its size).
    sums = np.bincount(inverse, weights=ranks)
    return np.asarray(sums[inverse] / counts[inverse], dtype=np.float64)


def agreement_weights(normalised: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """normalised: (N, n_detectors) scores on the same scale (higher = more anomalous)."""
    d = normalised.shape[1]
    if d == 1:
        return np.ones(1)
    ranks = np.column_stack([rankdata(normalised[:, j]) for j in range(d)])
    agreement = np.zeros(d)
    for j in range(d):
        others = ranks[:, [i for i in range(d) if i != j]].mean(axis=1)
        a, b = ranks[:, j], others
        if a.std() > 0 and b.std() > 0:
            agreement[j] = float(np.corrcoef(a, b)[0, 1])
    weights = np.clip(agreement, 0.0, None)
    if weights.sum() <= 1e-9:
        return np.full(d, 1.0 / d)
    return weights / weights.sum()
