"""Detector scores, calibrated p-values and the verdict they lead to."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime

# The FDR test's window (ml/scoring/fdr.py, SlidingWindowBH): BH's first step over it.
FDR_WINDOW = 200


def reference_needed(alpha: float, window: int = FDR_WINDOW) -> int:
    """How many reference images a kind of image needs before one image alone can be a
    significant anomaly: BH's first step over a window of `window` p-values asks for
    p <= alpha / window, and a conformal p-value is never below 1 / (n + 1)."""
    return math.ceil(window / alpha) - 1


def not_yet_significant(reference_size: int, alpha: float) -> str:
    """The sentence shown next to a first run's most unusual images."""
    need = reference_needed(alpha)
    return (
        f"Most unusual so far, not yet significant: verdicts become significant once the "
        f"reference holds about {need:,} images of a kind (it holds {reference_size:,} now)."
    )


class Verdict(enum.StrEnum):
    ANOMALY = "anomaly"
    NEAR_MISS = "near_miss"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The p-value cut-offs a verdict was judged by (smaller p = more anomalous).

    An image is an anomaly when p <= anomaly_p, a near-miss when p <= near_miss_p.
    """

    anomaly_p: float
    near_miss_p: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.anomaly_p <= self.near_miss_p <= 1.0:
            raise ValueError(f"need 0 <= anomaly_p <= near_miss_p <= 1, got {self}")

    def judge(self, p_value: float) -> Verdict:
        if p_value <= self.anomaly_p:
            return Verdict.ANOMALY
        if p_value <= self.near_miss_p:
            return Verdict.NEAR_MISS
        return Verdict.NORMAL


@dataclass(frozen=True, slots=True)
class Calibration:
    """A versioned calibration: which reference it used and the thresholds it set."""

    version: int
    model_id: str
    group: str
    reference_size: int
    fdr: float
    thresholds: Thresholds
    created_at: datetime
    bootstrap: bool = False


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """Everything the scorer says about one image.

    `score` is the ensemble score (higher = more anomalous); `detector_scores` keeps each
    detector's raw score so the user can see who voted for what.
    """

    score: float
    p_value: float
    verdict: Verdict
    detector_scores: dict[str, float] = field(default_factory=dict)
    calibration_version: int = 0
    thresholds: Thresholds | None = None

    @property
    def one_in(self) -> float:
        """'1 in ~N normal images would score this high'."""
        return float("inf") if self.p_value <= 0 else 1.0 / self.p_value

    def explain(self) -> str:
        n = self.one_in
        rate = "never seen in the reference" if n == float("inf") else f"1 in ~{n:,.0f}"
        return f"p = {self.p_value:.3g} ({rate} normal images would score this high)"
