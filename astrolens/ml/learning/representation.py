"""What the re-ranker compares candidates by: the backbone's embedding and the photometry.

The ImageNet embedding knows textures; what an astronomer reacts to is often how the light is
laid out (a ring, a tidal tail, a blue core), which the classic non-parametric measures describe
directly (`astrolens.ml.features.photometry`). Measured with benchmarks/active_learning.py on the
dev bench: kernel and logistic ranking over [embedding, photometry] reached macro AUROC 0.69
after 20 labels against 0.63 over the embedding alone, and found 30 instead of 20 anomalies in
the first 50 reviewed on the Galaxy Zoo track.

Each block is L2-normalised per row so that both weigh the same in a distance. The photometry
is robust-standardised over the pool (median, MAD), because its 12 measures have unrelated units
and a few extreme values (a saturated star) must not dominate. A row without photometry (not
measured yet, or its file is gone) gets zeros there: it is then compared by its embedding only.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PHOTOMETRY_WEIGHT = 1.0
_CLIP = 6.0


def _rows_unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > 1e-12, x / np.maximum(norms, 1e-12), 0.0)


def robust_standardise(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Column-wise (x - median) / (1.4826 MAD) over the finite rows, clipped; NaN -> 0."""
    x = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(x)
    finite = np.isfinite(x).all(axis=1)
    if not finite.any():
        return out
    med = np.median(x[finite], axis=0)
    mad = 1.4826 * np.median(np.abs(x[finite] - med), axis=0)
    scale = np.where(mad > 1e-9, mad, 1.0)
    out[finite] = np.clip((x[finite] - med) / scale, -_CLIP, _CLIP)
    return out


def ranking_features(
    embeddings: npt.ArrayLike, photometry: npt.ArrayLike | None = None
) -> npt.NDArray[np.float32]:
    """(N, D [+ P]) float32: [unit embedding, weight x unit standardised photometry]."""
    e = _rows_unit(np.asarray(embeddings, dtype=np.float64))
    if photometry is None:
        return e.astype(np.float32)
    p = np.asarray(photometry, dtype=np.float64)
    if p.ndim != 2 or len(p) != len(e):
        raise ValueError(f"photometry {p.shape} does not match embeddings {e.shape}")
    block = PHOTOMETRY_WEIGHT * _rows_unit(robust_standardise(p))
    return np.hstack([e, block]).astype(np.float32)
