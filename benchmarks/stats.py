"""Shared statistics for the benchmarks: AUROC with bootstrap 95 % intervals, paired
differences against the same-run baseline, and within-survey AUROC.

Why within-survey: on the gz track the survey an image came from predicts its label at 0.636
AUROC, so a detector can score well by recognising the survey. Within-survey AUROC computes the
AUROC inside each survey that has both labels and averages them weighted by size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

N_BOOT = 1000


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    if labels.min() == labels.max():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def _stratified_indices(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Resample anomalies and normals separately, so every replicate has both."""
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    return np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])


def auroc_ci(
    labels: np.ndarray, scores: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float, float, float]:
    """(AUROC, low, high): percentile bootstrap 95 % interval over test images."""
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = _stratified_indices(labels, rng)
        boots.append(roc_auc_score(labels[idx], scores[idx]))
    low, high = np.percentile(boots, [2.5, 97.5])
    return auroc(labels, scores), float(low), float(high)


def paired_delta_ci(
    labels: np.ndarray,
    ours: np.ndarray,
    base: np.ndarray,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[float, float, float]:
    """AUROC(ours) - AUROC(base) with a paired bootstrap 95 % interval (same resampled images
    for both), so "beats the baseline by more than the noise" means low > 0."""
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(n_boot):
        idx = _stratified_indices(labels, rng)
        deltas.append(roc_auc_score(labels[idx], ours[idx]) - roc_auc_score(labels[idx], base[idx]))
    low, high = np.percentile(deltas, [2.5, 97.5])
    return auroc(labels, ours) - auroc(labels, base), float(low), float(high)


def within_group_auroc(labels: np.ndarray, scores: np.ndarray, groups: Sequence[str]) -> float:
    """Size-weighted mean AUROC inside each group (survey) that holds both labels."""
    groups_arr = np.asarray(groups)
    total, weight = 0.0, 0
    for g in sorted(set(groups_arr.tolist())):
        mask = groups_arr == g
        if 0 < labels[mask].sum() < mask.sum():
            total += auroc(labels[mask], scores[mask]) * int(mask.sum())
            weight += int(mask.sum())
    return total / weight if weight else float("nan")


def survey_of(origin: str) -> str:
    """gz origins name the survey first: '.../decals-0_a-0_1.jpg' -> 'decals'."""
    name = origin.rsplit("/", 1)[-1]
    return name.split("-", 1)[0].lower()


def fmt_ci(value: tuple[float, float, float]) -> str:
    v, lo, hi = value
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
