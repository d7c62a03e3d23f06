"""The calibrated ensemble: detectors -> per-detector conformal p-values -> reliability-weighted
combination -> one conformal p-value -> FDR-controlled verdicts.

1. Fit: out-of-fold (K-fold) scores of every reference image by every detector (see
   conformal.py for why); the detectors of one fold go on scoring new images.
2. Normalise: each detector's raw score becomes its conformal p-value against its own
   calibration scores, then z = -log p, so detectors with different units (cosine distances,
   squared Mahalanobis distances, energies) become comparable. A p-value stops at 1/(n+1);
   beyond the largest calibration score z keeps growing with the excess in units of the
   calibration's upper spread, so the ensemble still ranks images that are all "beyond
   everything seen".
3. Combine: T = sum_d w_d z_d with reliability weights w (reliability.py: agreement on the
   reference, so a noise detector weighs ~0).
4. Calibrate T: the same construction on the reference's out-of-fold scores gives n
   calibration values of T; an image's `p_value` is (1 + #{T_cal >= T}) / (n + 1).
5. Decide: sliding-window Benjamini-Hochberg (fdr.py) at alpha (0.05, or 0.2 when aggressive).

Bootstrap: with fewer than `min_reference` reference images there is no honest p-value. The
scorer then ranks transductively (leave-one-out kNN within batch + reference), reports the rank
fraction as p_value, marks the calibration `bootstrap=True`, and caps verdicts at near-miss.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from astrolens.domain.scoring import Calibration, ScoreResult, Thresholds, Verdict
from astrolens.ml.detectors import (
    EnergyDetector,
    KNNDetector,
    MahalanobisDetector,
    MSPDetector,
    RelativeMahalanobisDetector,
)
from astrolens.ml.detectors._arrays import Matrix, NotFittedError, as_matrix, l2_normalise
from astrolens.ml.detectors.views import ColumnView
from astrolens.ml.scoring.conformal import (
    conformal_p_values,
    leave_one_out_p_values,
    out_of_fold_scores,
)
from astrolens.ml.scoring.fdr import NEAR_MISS_ALPHA_CAP, SlidingWindowBH
from astrolens.ml.scoring.reliability import agreement_weights
from astrolens.ml.scoring.threads import single_blas_thread

STATE_FORMAT = 1
DEFAULT_ALPHA = 0.05
AGGRESSIVE_ALPHA = 0.2

DetectorFactory = Callable[[], Any]

_DETECTOR_TYPES: dict[str, Any] = {
    cls.__name__: cls
    for cls in (
        KNNDetector,
        MahalanobisDetector,
        RelativeMahalanobisDetector,
        MSPDetector,
        EnergyDetector,
    )
}


def _restore_detector(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    if spec["type"] == ColumnView.__name__:
        inner = _DETECTOR_TYPES[spec["meta"]["inner_type"]]
        return ColumnView.from_state(arrays, spec["meta"], spec["name"], inner)
    return _DETECTOR_TYPES[spec["type"]].from_state(arrays, spec["meta"], spec["name"])


def default_detectors() -> list[DetectorFactory]:
    """kNN and Mahalanobis: on the bench embeddings they carry the signal (see the report);
    the head-based MSP/energy detectors stay available for callers that want them."""
    return [lambda: KNNDetector(k=5), lambda: MahalanobisDetector()]


class _Normaliser:
    """Raw score -> z = -log(conformal p) with a linear tail past the calibration maximum."""

    def __init__(self, calibration: npt.NDArray[np.float64]) -> None:
        self.calibration = np.sort(np.asarray(calibration, dtype=np.float64))
        top = self.calibration[-1]
        spread = top - np.quantile(self.calibration, 0.5)
        self._top, self._spread = top, spread if spread > 0 else 1.0

    def __call__(self, raw: npt.NDArray[np.float64], *, leave_one_out: bool = False) -> Any:
        """With leave_one_out, `raw` must be the calibration scores themselves (any order)."""
        if leave_one_out:
            p = leave_one_out_p_values(raw)
        else:
            p = conformal_p_values(self.calibration, raw)
        excess = np.clip((raw - self._top) / self._spread, 0.0, None)
        return -np.log(p) + excess


def _reachable_near_miss(thresholds: Thresholds, n_calibration: int) -> Thresholds:
    """With a small reference no p-value can pass BH, yet an image that outscores every
    reference image (the smallest p the reference can give, 1/(n+1)) deserves a look: the
    near-miss band always reaches it. It never becomes an anomaly this way."""
    smallest = min(1.0 / (n_calibration + 1), NEAR_MISS_ALPHA_CAP)
    if thresholds.near_miss_p >= smallest:
        return thresholds
    return Thresholds(anomaly_p=thresholds.anomaly_p, near_miss_p=smallest)


class EnsembleScorer:
    """Implements `astrolens.domain.ports.AnomalyScorer`. Blocking: call it from an executor."""

    def __init__(
        self,
        detectors: Sequence[DetectorFactory] | None = None,
        *,
        alpha: float | None = None,
        aggressive: bool = False,
        n_folds: int = 10,
        window: int = 200,
        near_miss_factor: float = 4.0,
        min_reference: int = 20,
        seed: int = 0,
    ) -> None:
        self.factories = list(detectors) if detectors is not None else default_detectors()
        self.alpha = (
            alpha if alpha is not None else (AGGRESSIVE_ALPHA if aggressive else DEFAULT_ALPHA)
        )
        self.n_folds = n_folds
        self.window = window
        self.near_miss_factor = near_miss_factor
        self.min_reference = min_reference
        self.seed = seed
        self._detectors: list[Any] = []
        self._normalisers: list[_Normaliser] = []
        self._weights = np.zeros(0)
        self._combined_cal = np.zeros(0)
        self._reference: Matrix | None = None  # kept only in bootstrap mode
        self._calibration: Calibration | None = None
        self._fdr = self._new_fdr()

    # -- the AnomalyScorer port ------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self._calibration is not None

    @property
    def calibration(self) -> Calibration:
        if self._calibration is None:
            raise NotFittedError("the scorer is not fitted")
        return self._calibration

    @property
    def detector_names(self) -> list[str]:
        return [d.name for d in self._detectors]

    @property
    def weights(self) -> dict[str, float]:
        return dict(zip(self.detector_names, self._weights.tolist(), strict=True))

    @single_blas_thread
    def fit(
        self, reference: Matrix, *, group: str, model_id: str, version: int | None = None
    ) -> Calibration:
        """Fit on in-distribution vectors. `version` defaults to the previous one + 1."""
        self._fit(as_matrix(reference), group=group, model_id=model_id, version=version)
        return self.calibration

    def _fit(
        self, ref: Matrix, *, group: str, model_id: str, version: int | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
        """`fit`; a calibrated fit also returns the reference's own out-of-fold scores in
        its order, combined and per detector (a first scan's verdicts), None in bootstrap."""
        prior = self._calibration.version if self._calibration else 0
        self._fdr = self._new_fdr()
        bootstrap = len(ref) < self.min_reference
        pooled = None
        if bootstrap:
            self._fit_bootstrap(ref)
            thresholds = Thresholds(anomaly_p=0.0, near_miss_p=self._fdr.near_miss_alpha)
        else:
            pooled = self._fit_calibrated(ref)
            thresholds = self._fdr.first_step()
        self._calibration = Calibration(
            version=version if version is not None else prior + 1,
            model_id=model_id,
            group=str(group),
            reference_size=len(ref),
            fdr=self.alpha,
            thresholds=thresholds,
            created_at=datetime.now(UTC),
            bootstrap=bootstrap,
        )
        return pooled

    @single_blas_thread
    def score(self, features: Matrix) -> list[ScoreResult]:
        """Judge one batch of the stream (in arrival order: the FDR window remembers it)."""
        cal = self.calibration
        x = as_matrix(features)
        if len(x) == 0:
            return []
        if cal.bootstrap:
            return self._score_bootstrap(x)
        raw = np.column_stack([d.score(x) for d in self._detectors])
        combined = self._combine(raw)
        p = conformal_p_values(self._combined_cal, combined)
        thresholds = _reachable_near_miss(self._fdr.judge(p), len(self._combined_cal))
        return [
            ScoreResult(
                score=float(combined[i]),
                p_value=float(p[i]),
                verdict=thresholds.judge(float(p[i])),
                detector_scores=dict(zip(self.detector_names, map(float, raw[i]), strict=True)),
                calibration_version=cal.version,
                thresholds=thresholds,
            )
            for i in range(len(x))
        ]

    @single_blas_thread
    def score_cross_fitted(
        self,
        features: Matrix,
        reference: Matrix,
        *,
        group: str,
        model_id: str,
        n_splits: int = 5,
    ) -> list[ScoreResult]:
        """Score a batch that must also serve as its own reference (a first scan).

        The ensemble is calibrated on `reference` plus the batch, K-fold out of fold: every
        image's score comes from detectors fitted without its fold, and its p-value ranks
        that score among the other images' out-of-fold scores (leave one out). That is
        cross-conformal prediction (Vovk 2015) over the pool, the same calibration a later
        batch is judged against, so a first scan costs one calibration, not one per split
        (a nested split-then-calibrate cost 5x the fits, ~60 % of a 1,150-image first scan).
        Then one BH over the whole batch sets the verdicts (a single decision over a known
        set of p-values). Folds follow the order given, so the same batch gives the same
        verdicts every time. Leaves this scorer calibrated on the pool; the caller refits
        on the stored normals afterwards.

        Below `min_reference` images in all there is nothing to calibrate: the batch is
        split in `n_splits` folds, each ranked against the others and the reference.
        """
        x = as_matrix(features)
        ref = as_matrix(reference) if len(reference) else x[:0]
        if len(ref) + len(x) < self.min_reference:
            return self._rank_small_batch(x, ref, group=group, model_id=model_id, n_splits=n_splits)
        pool = np.vstack([ref, x])
        pooled = self._fit(pool, group=group, model_id=model_id)
        assert pooled is not None  # the pool is large enough to calibrate
        combined, raw = pooled
        p = leave_one_out_p_values(combined)[len(ref) :]
        thresholds = _reachable_near_miss(self._new_fdr().judge(p), len(pool) - 1)
        version = self.calibration.version
        names = self.detector_names
        return [
            ScoreResult(
                score=float(combined[len(ref) + i]),
                p_value=float(p[i]),
                verdict=thresholds.judge(float(p[i])),
                detector_scores=dict(zip(names, map(float, raw[len(ref) + i]), strict=True)),
                calibration_version=version,
                thresholds=thresholds,
            )
            for i in range(len(x))
        ]

    def _rank_small_batch(
        self, x: Matrix, ref: Matrix, *, group: str, model_id: str, n_splits: int
    ) -> list[ScoreResult]:
        """A batch too small to calibrate: each fold ranked (kNN, transductive) against the
        reference and the other folds; never an anomaly, at most a near-miss."""
        folds = np.arange(len(x)) % max(2, min(n_splits, len(x)))
        partial: list[ScoreResult | None] = [None] * len(x)
        for k in np.unique(folds):
            self.fit(np.vstack([ref, x[folds != k]]), group=group, model_id=model_id)
            idx = np.flatnonzero(folds == k)
            for i, result in zip(idx, self.score(x[idx]), strict=True):
                partial[int(i)] = result
        thresholds = self.calibration.thresholds
        results = []
        for r in partial:
            assert r is not None
            verdict = thresholds.judge(r.p_value)
            if verdict is Verdict.ANOMALY:
                verdict = Verdict.NEAR_MISS  # no calibrated p-value: never claim an anomaly
            results.append(dataclasses.replace(r, verdict=verdict, thresholds=thresholds))
        return results

    def score_transductive(self, features: Matrix) -> npt.NDArray[np.float64]:
        """Leave-one-out kNN distance of each vector within (batch + bootstrap reference):
        a ranking that needs no calibration, for when the reference is too small."""
        x = as_matrix(features)
        pool = x if self._reference is None else np.vstack([x, self._reference])
        if len(pool) < 2:
            return np.zeros(len(x))
        return KNNDetector(k=min(5, len(pool) - 1)).fit(pool).score_reference()[: len(x)]

    # -- fitting ---------------------------------------------------------------------------
    def _fit_calibrated(
        self, ref: Matrix
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        oof, self._detectors = out_of_fold_scores(self.factories, ref, self.n_folds, self.seed)
        self._normalisers = [_Normaliser(oof[:, d]) for d in range(oof.shape[1])]
        z_cal = np.column_stack(
            [norm(oof[:, d], leave_one_out=True) for d, norm in enumerate(self._normalisers)]
        )
        self._weights = agreement_weights(z_cal)
        combined = z_cal @ self._weights
        self._combined_cal = np.sort(combined)
        self._reference = None
        return combined, oof

    def _fit_bootstrap(self, ref: Matrix) -> None:
        self._reference = l2_normalise(ref) if len(ref) else None
        self._detectors, self._normalisers = [], []
        self._weights, self._combined_cal = np.zeros(0), np.zeros(0)

    def _combine(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        z = np.column_stack([norm(raw[:, d]) for d, norm in enumerate(self._normalisers)])
        return np.asarray(z @ self._weights, dtype=np.float64)

    def _score_bootstrap(self, x: Matrix) -> list[ScoreResult]:
        cal = self.calibration
        s = self.score_transductive(x)
        pool = s if self._reference is None else np.concatenate([s, self._ref_loo(x)])
        # Rank fraction within the pool: not a calibrated p-value, hence capped verdicts.
        p = np.array([(np.sum(pool >= v)) / len(pool) for v in s])
        thresholds = cal.thresholds
        results = []
        for i in range(len(x)):
            verdict = Verdict.NEAR_MISS if p[i] <= thresholds.near_miss_p else Verdict.NORMAL
            results.append(
                ScoreResult(
                    score=float(s[i]),
                    p_value=float(p[i]),
                    verdict=verdict,
                    detector_scores={"knn_transductive": float(s[i])},
                    calibration_version=cal.version,
                    thresholds=thresholds,
                )
            )
        return results

    def _ref_loo(self, x: Matrix) -> npt.NDArray[np.float64]:
        assert self._reference is not None
        pool = np.vstack([x, self._reference])
        return KNNDetector(k=min(5, len(pool) - 1)).fit(pool).score_reference()[len(x) :]

    def _new_fdr(self, history: Sequence[float] = ()) -> SlidingWindowBH:
        return SlidingWindowBH(
            self.alpha,
            window=self.window,
            near_miss_factor=self.near_miss_factor,
            history=history,
        )

    # -- persistence -----------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Plain numpy arrays + a JSON-able dict; `from_state` rebuilds a fitted scorer without
        refitting (the detector factories are not saved: a reloaded scorer cannot refit until
        given new ones)."""
        cal = self.calibration
        arrays: dict[str, np.ndarray] = {
            "weights": self._weights,
            "combined_cal": self._combined_cal,
            "recent_p": np.asarray(self._fdr.recent, dtype=np.float64),
        }
        if self._reference is not None:
            arrays["bootstrap_reference"] = self._reference
        detectors = []
        for i, det in enumerate(self._detectors):
            det_arrays, det_meta = det.state()
            arrays |= {f"det{i}.{k}": v for k, v in det_arrays.items()}
            arrays[f"cal{i}"] = self._normalisers[i].calibration
            detectors.append({"type": type(det).__name__, "name": det.name, "meta": det_meta})
        meta = {
            "format": STATE_FORMAT,
            "alpha": self.alpha,
            "n_folds": self.n_folds,
            "window": self.window,
            "near_miss_factor": self.near_miss_factor,
            "min_reference": self.min_reference,
            "seed": self.seed,
            "detectors": detectors,
            "calibration": {
                "version": cal.version,
                "model_id": cal.model_id,
                "group": cal.group,
                "reference_size": cal.reference_size,
                "fdr": cal.fdr,
                "anomaly_p": cal.thresholds.anomaly_p,
                "near_miss_p": cal.thresholds.near_miss_p,
                "created_at": cal.created_at.isoformat(),
                "bootstrap": cal.bootstrap,
            },
        }
        json.dumps(meta)  # fail here, not in the store, if something is not JSON-able
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> EnsembleScorer:
        if meta.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown scorer state format {meta.get('format')!r}")
        scorer = cls(
            detectors=[],
            alpha=float(meta["alpha"]),
            n_folds=int(meta["n_folds"]),
            window=int(meta["window"]),
            near_miss_factor=float(meta["near_miss_factor"]),
            min_reference=int(meta["min_reference"]),
            seed=int(meta["seed"]),
        )
        for i, spec in enumerate(meta["detectors"]):
            prefix = f"det{i}."
            det_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            scorer._detectors.append(_restore_detector(spec, det_arrays))
            scorer._normalisers.append(_Normaliser(arrays[f"cal{i}"]))
        scorer._weights = np.asarray(arrays["weights"], dtype=np.float64)
        scorer._combined_cal = np.asarray(arrays["combined_cal"], dtype=np.float64)
        scorer._reference = arrays.get("bootstrap_reference")
        scorer._fdr = scorer._new_fdr(arrays["recent_p"].tolist())
        c = meta["calibration"]
        scorer._calibration = Calibration(
            version=int(c["version"]),
            model_id=c["model_id"],
            group=c["group"],
            reference_size=int(c["reference_size"]),
            fdr=float(c["fdr"]),
            thresholds=Thresholds(float(c["anomaly_p"]), float(c["near_miss_p"])),
            created_at=datetime.fromisoformat(c["created_at"]),
            bootstrap=bool(c["bootstrap"]),
        )
        return scorer
