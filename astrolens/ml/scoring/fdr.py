"""False-discovery-rate thresholds over a stream of conformal p-values.

Procedure: Benjamini-Hochberg over a sliding window made of the incoming batch plus the most
recent `window` p-values already judged. Conformal p-values that share one calibration set are
PRDS (Bates et al. 2023, "Testing for outliers with conformal p-values"), so BH at level alpha
controls the FDR over each window it is applied to. Decisions are made once, when an image
arrives, and never revised. Why not an online rule (LORD/SAFFRON/LOND): their per-test levels
alpha_t shrink as the stream grows, and a conformal p-value can never go below 1/(n_cal+1), so
on an open-ended desktop stream with a reference of a few hundred images they would stop
discovering anything after a while. The window keeps the test budget fixed instead; the price
is that the guarantee is per window, not over the infinite stream.

Near-miss band: BH at `near_miss_factor * alpha` (capped at 0.3, so aggressive mode's 0.2 does
not make the review queue BH at 0.8) over the same window, and at least the
per-image level `near_miss_floor` (default alpha / 10: about 0.5 % of normal images), so the
review queue still gets the most unusual images when BH cannot reject anything (a rare anomaly
in a small window needs p <= alpha / m, which a small reference cannot reach).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from astrolens.domain.scoring import Thresholds

NEAR_MISS_ALPHA_CAP = 0.3


def benjamini_hochberg_threshold(p_values: npt.ArrayLike, alpha: float) -> float:
    """The BH cut-off: the largest p_(k) with p_(k) <= alpha * k / m, or 0.0 if there is none
    (reject every p <= the returned value)."""
    p = np.sort(np.asarray(p_values, dtype=np.float64))
    m = len(p)
    if m == 0:
        return 0.0
    ok = p <= alpha * np.arange(1, m + 1) / m
    return float(p[np.nonzero(ok)[0][-1]]) if ok.any() else 0.0


class SlidingWindowBH:
    """BH over (recent stream + batch); call `judge` with each batch in arrival order."""

    def __init__(
        self,
        alpha: float,
        *,
        window: int = 200,
        near_miss_factor: float = 4.0,
        near_miss_floor: float | None = None,
        history: Iterable[float] = (),
    ) -> None:
        if not 0 < alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        self.alpha = alpha
        self.window = window
        self.near_miss_alpha = max(alpha, min(NEAR_MISS_ALPHA_CAP, near_miss_factor * alpha))
        self.near_miss_floor = alpha / 10 if near_miss_floor is None else near_miss_floor
        self._recent: deque[float] = deque(history, maxlen=window)

    @property
    def recent(self) -> list[float]:
        return list(self._recent)

    def judge(self, p_batch: npt.ArrayLike) -> Thresholds:
        """Thresholds for this batch; the batch then joins the recent stream."""
        batch = np.asarray(p_batch, dtype=np.float64).ravel()
        pool = np.concatenate([np.asarray(self._recent, dtype=np.float64), batch])
        anomaly = benjamini_hochberg_threshold(pool, self.alpha)
        near = max(benjamini_hochberg_threshold(pool, self.near_miss_alpha), self.near_miss_floor)
        self._recent.extend(batch.tolist())
        return Thresholds(anomaly_p=anomaly, near_miss_p=max(near, anomaly))

    def first_step(self) -> Thresholds:
        """The thresholds a single extreme image faces in a full window of normal images:
        BH's first step alpha / window. Used as the calibration's nominal thresholds."""
        anomaly = self.alpha / max(1, self.window)
        return Thresholds(anomaly_p=anomaly, near_miss_p=max(anomaly, self.near_miss_floor))
