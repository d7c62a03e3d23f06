"""Small array helpers shared by the detectors."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]


def as_matrix(features: npt.ArrayLike, *, dim: int | None = None) -> Matrix:
    """A C-contiguous (N, D) float32 matrix; raises if the shape is not what was fitted."""
    x = np.ascontiguousarray(np.asarray(features, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"features have dim {x.shape[1]}, the detector was fitted on {dim}")
    return x


def l2_normalise(x: npt.NDArray[np.floating]) -> Matrix:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class NotFittedError(RuntimeError):
    """score() was called before fit()."""
