"""Calibration, FDR and ensemble behaviour on synthetic data with known answers."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from scipy.stats import kstest

from astrolens.domain.ports import AnomalyScorer
from astrolens.domain.scoring import Verdict
from astrolens.ml.detectors import KNNDetector, MahalanobisDetector
from astrolens.ml.scoring import (
    EnsembleScorer,
    SlidingWindowBH,
    benjamini_hochberg_threshold,
    conformal_p_values,
    leave_one_out_p_values,
)

DIM = 32


def _normals(rng: np.random.Generator, n: int) -> np.ndarray:
    """Embedding-like in-distribution data: an anisotropic Gaussian, L2-normalised."""
    scales = np.linspace(0.6, 0.05, DIM)
    x = rng.normal(size=(n, DIM)) * scales + 3.0 * np.eye(DIM)[0]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _outliers(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, DIM)) * 0.3 - 3.0 * np.eye(DIM)[1]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class RandomDetector:
    """A detector that knows nothing: its score is noise."""

    name = "random"
    _instances = itertools.count()

    def __init__(self) -> None:
        # A fresh stream per instance: two copies must not agree with each other by accident.
        self.rng = np.random.default_rng(1000 + next(self._instances))

    def fit(self, features: np.ndarray) -> RandomDetector:
        return self

    def score(self, features: np.ndarray) -> Any:
        return self.rng.normal(size=len(features))


def test_conformal_p_value_formula() -> None:
    cal = [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(conformal_p_values(cal, [0.0, 2.0, 2.5, 9.0]), [1, 0.8, 0.6, 0.2])
    np.testing.assert_allclose(leave_one_out_p_values([1.0, 2.0, 3.0, 4.0]), [1, 0.75, 0.5, 0.25])


def test_benjamini_hochberg_matches_a_hand_worked_example() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    # alpha k / m at 0.05: 0.005, 0.01, 0.015, ... -> p_(2) = 0.008 is the last one below.
    assert benjamini_hochberg_threshold(p, 0.05) == 0.008
    assert benjamini_hochberg_threshold([0.5, 0.9], 0.05) == 0.0


def test_p_values_are_uniform_on_held_out_normals() -> None:
    rng = np.random.default_rng(0)
    scorer = EnsembleScorer(seed=0, window=10_000)
    scorer.fit(_normals(rng, 400), group="survey", model_id="test")
    p = np.array([r.p_value for r in scorer.score(_normals(rng, 400))])
    assert kstest(p, "uniform").statistic < 0.1
    assert p.mean() == pytest.approx(0.5, abs=0.06)


def test_p_values_stay_uniform_when_the_reference_is_smaller_than_the_dimension() -> None:
    """The PCA-Mahalanobis regime (N < 2D), where a model refitted on the whole reference
    would score new normals higher than its calibration (see conformal.py)."""
    rng = np.random.default_rng(7)
    basis = np.linalg.qr(rng.normal(size=(256, 256)))[0]
    scales = 1.0 / np.arange(1, 257)

    def sample(n: int) -> np.ndarray:
        x = (rng.normal(size=(n, 256)) * scales) @ basis.T + 3 * basis[:, 0]
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    p_all = []
    for seed in range(4):
        scorer = EnsembleScorer([lambda: MahalanobisDetector()], seed=seed, window=10_000)
        scorer.fit(sample(80), group="survey", model_id="m")
        p_all += [r.p_value for r in scorer.score(sample(200))]
    assert np.mean(p_all) == pytest.approx(0.5, abs=0.06)


def test_far_outliers_get_the_smallest_possible_p_and_are_anomalies() -> None:
    rng = np.random.default_rng(1)
    scorer = EnsembleScorer()
    cal = scorer.fit(_normals(rng, 300), group="survey", model_id="test")
    results = scorer.score(np.vstack([_normals(rng, 100), _outliers(rng, 20)]))
    out = results[100:]
    assert all(r.p_value == pytest.approx(1 / 301) for r in out)
    assert all(r.verdict is Verdict.ANOMALY for r in out)
    assert all(r.calibration_version == cal.version and r.thresholds for r in results)
    assert "1 in ~301" in out[0].explain()
    # Every outlier outranks every normal image.
    assert min(r.score for r in out) > max(r.score for r in results[:100])


def test_fdr_is_controlled_over_a_synthetic_stream() -> None:
    """Mixed stream, 10% anomalies of varying strength; average false-discovery proportion
    over seeds <= alpha + tolerance."""
    alpha, fdps, powers = 0.1, [], []
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        scorer = EnsembleScorer([lambda: KNNDetector(k=5)], alpha=alpha, window=150, seed=seed)
        scorer.fit(_normals(rng, 300), group="survey", model_id="t")
        false = true = 0
        for _ in range(4):
            n_out = 6
            strength = rng.uniform(0.2, 1.0, size=(n_out, 1))
            out = strength * _outliers(rng, n_out) + (1 - strength) * _normals(rng, n_out)
            batch = np.vstack([_normals(rng, 54), out]).astype(np.float32)
            is_out = np.r_[np.zeros(54, bool), np.ones(n_out, bool)]
            found = np.array([r.verdict is Verdict.ANOMALY for r in scorer.score(batch)])
            false += int(np.sum(found & ~is_out))
            true += int(np.sum(found & is_out))
        fdps.append(false / max(1, false + true))
        powers.append(true / 24)
    assert np.mean(fdps) <= alpha + 0.05
    assert np.mean(powers) > 0.5  # and it still finds things: a test that rejects nothing passes


def test_a_random_detector_does_not_ruin_the_ensemble() -> None:
    rng = np.random.default_rng(2)
    ref = _normals(rng, 300)
    strength = np.linspace(0.1, 0.6, 40)[:, None]
    hard = (strength * _outliers(rng, 40) + (1 - strength) * _normals(rng, 40)).astype(np.float32)
    query = np.vstack([_normals(rng, 200), hard])
    truth = np.r_[np.zeros(200), np.ones(40)]

    def auroc(scorer: EnsembleScorer) -> float:
        from sklearn.metrics import roc_auc_score

        scorer.fit(ref, group="survey", model_id="t")
        return float(roc_auc_score(truth, [r.score for r in scorer.score(query)]))

    good = [lambda: KNNDetector(k=5), lambda: MahalanobisDetector()]
    clean = auroc(EnsembleScorer(good))
    noisy_scorer = EnsembleScorer([*good, RandomDetector, RandomDetector])
    noisy = auroc(noisy_scorer)
    assert noisy_scorer._weights[2:].max() < 0.1
    assert noisy >= clean - 0.02


def test_near_miss_band_sits_between_anomaly_and_normal() -> None:
    window = SlidingWindowBH(0.05, window=100)
    p = np.r_[np.full(5, 1e-4), np.full(5, 0.004), np.linspace(0.05, 1, 90)]
    t = window.judge(p)
    assert t.anomaly_p < t.near_miss_p
    assert t.judge(1e-4) is Verdict.ANOMALY and t.judge(0.9) is Verdict.NORMAL
    assert len(window.recent) == 100


def test_aggressive_mode_loosens_alpha() -> None:
    assert EnsembleScorer(aggressive=True).alpha > EnsembleScorer().alpha


def test_state_round_trip_scores_identically_without_refitting() -> None:
    rng = np.random.default_rng(3)
    scorer = EnsembleScorer()
    scorer.fit(_normals(rng, 120), group="survey", model_id="m")
    scorer.score(_normals(rng, 30))  # some stream history
    arrays, meta = scorer.to_state()
    restored = EnsembleScorer.from_state(arrays, meta)
    query = np.vstack([_normals(rng, 10), _outliers(rng, 3)])
    a, b = scorer.score(query), restored.score(query)
    assert [r.p_value for r in a] == [r.p_value for r in b]
    assert [r.verdict for r in a] == [r.verdict for r in b]
    assert restored.calibration == scorer.calibration
    with pytest.raises(ValueError, match="format"):
        EnsembleScorer.from_state(arrays, meta | {"format": 999})


def test_tiny_reference_bootstraps_and_caps_verdicts_at_near_miss() -> None:
    rng = np.random.default_rng(4)
    scorer: AnomalyScorer = EnsembleScorer()
    cal = scorer.fit(_normals(rng, 8), group="survey", model_id="m")
    assert cal.bootstrap
    query = np.vstack([_normals(rng, 20), _outliers(rng, 2)])
    results = scorer.score(query)
    assert all(r.verdict is not Verdict.ANOMALY for r in results)
    assert results[-1].verdict is Verdict.NEAR_MISS
    ranking = np.argsort([-r.score for r in results])
    assert set(ranking[:2]) == {20, 21}


def test_fit_versions_increase() -> None:
    rng = np.random.default_rng(5)
    scorer = EnsembleScorer()
    first = scorer.fit(_normals(rng, 50), group="survey", model_id="m")
    second = scorer.fit(_normals(rng, 50), group="survey", model_id="m")
    assert second.version == first.version + 1
    assert not scorer.score(_normals(rng, 0).reshape(0, DIM))


def test_column_views_see_only_their_block_and_survive_a_state_round_trip() -> None:
    from astrolens.ml.detectors import ColumnView

    rng = np.random.default_rng(6)
    extra = 4  # e.g. photometric features appended to the embedding, in their own units
    ref = np.hstack([_normals(rng, 150), rng.normal(100, 10, size=(150, extra))]).astype(np.float32)
    odd_extra = np.hstack([_normals(rng, 1), [[100, 100, 100, 300]]]).astype(np.float32)
    factories = [
        lambda: ColumnView(KNNDetector(k=5), 0, DIM),
        lambda: ColumnView(MahalanobisDetector(name="photo"), DIM, None, standardise=True),
    ]
    scorer = EnsembleScorer(factories)
    scorer.fit(ref, group="survey", model_id="m")
    result = scorer.score(odd_extra)[0]
    # Only the photometric block is odd: the kNN view sees a normal embedding.
    knn_p = conformal_p_values(scorer._normalisers[0].calibration, [result.detector_scores["knn5"]])
    assert knn_p[0] > 0.01
    assert result.detector_scores["photo"] > scorer._normalisers[1].calibration.max()
    restored = EnsembleScorer.from_state(*scorer.to_state())
    assert restored.score(odd_extra)[0].p_value == result.p_value


def test_near_miss_level_is_capped_in_aggressive_mode() -> None:
    assert SlidingWindowBH(0.05).near_miss_alpha == pytest.approx(0.2)
    assert SlidingWindowBH(0.2).near_miss_alpha == pytest.approx(0.3)


def test_reliability_ranks_match_scipy_with_ties() -> None:
    from scipy.stats import rankdata as scipy_rankdata

    from astrolens.ml.scoring.reliability import rankdata

    rng = np.random.default_rng(3)
    for values in (rng.normal(size=200), rng.integers(0, 6, 80).astype(float), np.ones(5)):
        np.testing.assert_array_equal(rankdata(values), scipy_rankdata(values))


def test_folds_fitted_on_threads_give_the_same_scores_and_kept_detectors_as_one_by_one() -> None:
    from astrolens.ml.scoring.conformal import out_of_fold_scores

    rng = np.random.default_rng(3)
    reference = rng.normal(size=(120, 24)).astype(np.float32)
    factories = [lambda: MahalanobisDetector(), lambda: KNNDetector(k=5)]
    serial, kept_serial = out_of_fold_scores(factories, reference, 6, seed=1, workers=1)
    threaded, kept_threaded = out_of_fold_scores(factories, reference, 6, seed=1, workers=3)
    np.testing.assert_array_equal(serial, threaded)
    probe = rng.normal(size=(10, 24)).astype(np.float32)
    for a, b in zip(kept_serial, kept_threaded, strict=True):
        np.testing.assert_array_equal(a.score(probe), b.score(probe))


# -- a first scan: the batch is its own reference ------------------------------------------


def test_a_first_scan_gives_uniform_p_values_to_its_normal_images() -> None:
    """Cross-conformal over the batch: each image's score comes from detectors that never
    saw it, so the batch's normal images get p-values that are uniform, as new ones would."""
    p_all: list[float] = []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        results = EnsembleScorer(seed=seed).score_cross_fitted(
            _normals(rng, 300), np.zeros((0, DIM), np.float32), group="g", model_id="m"
        )
        p_all += [r.p_value for r in results]
    p = np.array(p_all)
    assert kstest(p, "uniform").statistic < 0.08
    assert p.mean() == pytest.approx(0.5, abs=0.04)
    assert np.mean(p <= 0.05) <= 0.07


def test_a_first_scan_finds_its_outliers_and_judges_nobody_against_itself() -> None:
    rng = np.random.default_rng(3)
    batch = np.vstack([_normals(rng, 400), _outliers(rng, 3)])
    scorer = EnsembleScorer(seed=0)
    results = scorer.score_cross_fitted(batch, batch[:0], group="g", model_id="m")
    out, normal = results[400:], results[:400]
    # Scored by detectors fitted without it, an outlier is far from all they saw: the
    # three take the three smallest p-values the pool allows (each outranked only by the
    # other outliers), and outscore every normal image.
    assert sorted(r.p_value for r in out) == pytest.approx([1 / 403, 2 / 403, 3 / 403])
    assert min(r.score for r in out) > max(r.score for r in normal)
    assert all(r.verdict is not Verdict.NORMAL for r in out[:2])
    assert sum(r.verdict is not Verdict.NORMAL for r in normal) <= 2
    assert {r.calibration_version for r in results} == {scorer.calibration.version}
    assert scorer.calibration.reference_size == 403  # left calibrated on the pool
    # The same batch in the same order gives the same verdicts.
    again = EnsembleScorer(seed=0).score_cross_fitted(batch, batch[:0], group="g", model_id="m")
    assert [r.p_value for r in again] == [r.p_value for r in results]


def test_a_first_scan_with_a_reference_judges_only_the_batch() -> None:
    rng = np.random.default_rng(4)
    reference, batch = _normals(rng, 200), np.vstack([_normals(rng, 50), _outliers(rng, 2)])
    results = EnsembleScorer(seed=0).score_cross_fitted(batch, reference, group="g", model_id="m")
    assert len(results) == 52
    assert all(r.p_value <= 2 / 252 for r in results[50:])


def test_a_first_scan_too_small_to_calibrate_is_ranked_never_an_anomaly() -> None:
    rng = np.random.default_rng(5)
    batch = np.vstack([_normals(rng, 12), _outliers(rng, 1)])
    results = EnsembleScorer(seed=0).score_cross_fitted(batch, batch[:0], group="g", model_id="m")
    assert len(results) == 13
    assert all(r.verdict is not Verdict.ANOMALY for r in results)
    assert results[12].verdict is Verdict.NEAR_MISS
