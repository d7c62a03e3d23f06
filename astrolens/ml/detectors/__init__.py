"""Out-of-distribution detectors over embeddings: `fit(features) -> self`, `score(features)`,
higher = more anomalous. Each also has `state()` / `from_state()` so a fitted one persists as
plain arrays."""

from astrolens.ml.detectors.knn import KNNDetector
from astrolens.ml.detectors.logits import (
    EnergyDetector,
    MSPDetector,
    PseudoClassHead,
    energy_score,
    msp_score,
)
from astrolens.ml.detectors.mahalanobis import MahalanobisDetector, RelativeMahalanobisDetector
from astrolens.ml.detectors.views import ColumnView

__all__ = [
    "ColumnView",
    "EnergyDetector",
    "KNNDetector",
    "MSPDetector",
    "MahalanobisDetector",
    "PseudoClassHead",
    "RelativeMahalanobisDetector",
    "energy_score",
    "msp_score",
]
