"""Embeddings always carry the model that made them: vectors of two models never mix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class ModelMismatchError(ValueError):
    """Raised when vectors of different models (or dimensions) would be compared."""


@dataclass(frozen=True, slots=True)
class Embedding:
    model_id: str
    vector: Vector

    @property
    def dim(self) -> int:
        return int(self.vector.shape[-1])


def require_same_model(expected_model: str, expected_dim: int, model_id: str, dim: int) -> None:
    if model_id != expected_model or dim != expected_dim:
        raise ModelMismatchError(
            f"embedding of {model_id!r} (dim {dim}) cannot join {expected_model!r} "
            f"(dim {expected_dim}); re-embed instead of mixing"
        )
