"""Run a detector on a slice of the feature columns.

The scorer takes one matrix per image; when the pipeline appends hand-made features (e.g.
`astrolens.ml.features.photometric_features`) to the embedding, each detector must see only
the block it understands. Blocks other than unit-norm embeddings are standardised with the
reference's median and MAD, which keeps one wild feature from dominating a shrunk covariance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from astrolens.ml.detectors._arrays import Matrix, NotFittedError, Scores, as_matrix


class ColumnView:
    """`detector` applied to columns [start, stop) (optionally robust-standardised)."""

    def __init__(
        self, detector: Any, start: int, stop: int | None = None, *, standardise: bool = False
    ) -> None:
        self.detector = detector
        self.start, self.stop = start, stop
        self.standardise = standardise
        self.name = detector.name
        self._centre: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def _slice(self, features: Matrix) -> Matrix:
        x = as_matrix(features)[:, self.start : self.stop]
        if not self.standardise:
            return x
        if self._centre is None or self._scale is None:
            raise NotFittedError(f"{self.name} view is not fitted")
        return ((x - self._centre) / self._scale).astype(np.float32)

    def fit(self, features: Matrix) -> ColumnView:
        x = as_matrix(features)[:, self.start : self.stop]
        if self.standardise:
            self._centre = np.median(x, axis=0)
            mad = 1.4826 * np.median(np.abs(x - self._centre), axis=0)
            # A constant column (MAD 0) falls back to its std, then to 1.
            self._scale = np.where(mad > 1e-9, mad, np.maximum(x.std(axis=0), 1e-9))
        self.detector.fit(self._slice(features))
        return self

    def score(self, features: Matrix) -> Scores:
        return np.asarray(self.detector.score(self._slice(features)), dtype=np.float64)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = self.detector.state()
        arrays = {f"inner.{k}": v for k, v in arrays.items()}
        if self._centre is not None and self._scale is not None:
            arrays |= {"centre": self._centre, "scale": self._scale}
        view = {"start": self.start, "stop": self.stop, "standardise": self.standardise}
        return arrays, {"view": view, "inner_type": type(self.detector).__name__, "inner": meta}

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], name: str, inner_cls: Any
    ) -> ColumnView:
        inner_arrays = {k[6:]: v for k, v in arrays.items() if k.startswith("inner.")}
        inner = inner_cls.from_state(inner_arrays, meta["inner"], name)
        v = meta["view"]
        view = cls(inner, int(v["start"]), v["stop"], standardise=bool(v["standardise"]))
        view._centre, view._scale = arrays.get("centre"), arrays.get("scale")
        return view
