"""Calibrated scoring: conformal p-values, reliability-weighted ensemble, FDR thresholds."""

from astrolens.ml.scoring.conformal import conformal_p_values, leave_one_out_p_values
from astrolens.ml.scoring.ensemble import EnsembleScorer, default_detectors
from astrolens.ml.scoring.fdr import SlidingWindowBH, benjamini_hochberg_threshold

__all__ = [
    "EnsembleScorer",
    "SlidingWindowBH",
    "benjamini_hochberg_threshold",
    "conformal_p_values",
    "default_detectors",
    "leave_one_out_p_values",
]
