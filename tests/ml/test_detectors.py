"""Each detector pinned on a case that can be computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from astrolens.domain.ports import Detector
from astrolens.ml.detectors import (
    EnergyDetector,
    KNNDetector,
    MahalanobisDetector,
    MSPDetector,
    RelativeMahalanobisDetector,
    energy_score,
    msp_score,
)
from astrolens.ml.detectors import knn as knn_module


def _angles_to_unit(theta: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta)], axis=1).astype(np.float32)


@pytest.fixture(params=["numpy", "faiss"])
def knn_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "faiss":
        monkeypatch.setattr(knn_module, "FAISS_MIN_REFERENCE", 1)
    return str(request.param)


def test_knn_distances_of_points_on_a_circle_arc(knn_backend: str) -> None:
    # Reference at angles 0, .1, .2, .3, .4 rad: cosine distance is 1 - cos(angle gap).
    ref = _angles_to_unit(np.array([0.0, 0.1, 0.2, 0.3, 0.4]))
    query = _angles_to_unit(np.array([0.6]))
    det = KNNDetector(k=2, reduce="kth").fit(ref)
    assert det.score(query)[0] == pytest.approx(1 - np.cos(0.3), abs=1e-6)
    det_mean = KNNDetector(k=2, reduce="mean").fit(ref)
    expected = ((1 - np.cos(0.2)) + (1 - np.cos(0.3))) / 2
    assert det_mean.score(query)[0] == pytest.approx(expected, abs=1e-6)


def test_knn_leave_one_out_excludes_the_point_itself(knn_backend: str) -> None:
    ref = _angles_to_unit(np.array([0.0, 0.1, 0.3]))
    loo = KNNDetector(k=1, reduce="kth").fit(ref).score_reference()
    # Nearest other point: 0 -> .1, .1 -> 0, .3 -> .1.
    np.testing.assert_allclose(loo, 1 - np.cos([0.1, 0.1, 0.2]), atol=1e-6)
    # Scoring the reference as new points would give zero: the point finds itself.
    np.testing.assert_allclose(KNNDetector(k=1).fit(ref).score(ref), 0.0, atol=1e-6)


def test_knn_k_larger_than_reference_uses_what_there_is() -> None:
    ref = _angles_to_unit(np.array([0.0, 0.2]))
    score = KNNDetector(k=5).fit(ref).score(_angles_to_unit(np.array([0.1])))
    assert score[0] == pytest.approx(1 - np.cos(0.1), abs=1e-6)


def test_mahalanobis_matches_the_closed_form_on_a_2d_gaussian() -> None:
    rng = np.random.default_rng(0)
    mean = np.array([1.0, -2.0])
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    ref = rng.multivariate_normal(mean, cov, size=20000).astype(np.float32)
    query = np.array([[1.0, -2.0], [3.0, -2.0], [1.0, 0.0], [-1.0, -4.0]], dtype=np.float32)
    diff = query - mean
    expected = np.einsum("ij,jk,ik->i", diff, np.linalg.inv(cov), diff)
    got = MahalanobisDetector().fit(ref).score(query)
    np.testing.assert_allclose(got, expected, rtol=0.05, atol=0.02)


def test_mahalanobis_reduces_with_pca_when_reference_is_smaller_than_dimension() -> None:
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(64, 3)))[0]  # normals live on a 3-d subspace
    ref = (rng.normal(size=(40, 3)) @ basis.T + 0.01 * rng.normal(size=(40, 64))).astype(np.float32)
    inlier = (rng.normal(size=(1, 3)) @ basis.T).astype(np.float32)
    far = (8 * np.ones((1, 3)) @ basis.T).astype(np.float32)
    det = MahalanobisDetector().fit(ref)
    # 40 points in 64-d: a raw covariance is singular; PCA keeps at most N/2 = 20 components.
    assert det.state()[0]["proj"].shape == (64, 20)
    assert np.all(np.isfinite(det.score(ref)))
    assert det.score(far)[0] > 10 * det.score(inlier)[0]


def test_class_conditional_mahalanobis_sees_the_gap_between_clusters() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal([-5, 0], 0.5, size=(300, 2))
    b = rng.normal([5, 0], 0.5, size=(300, 2))
    ref = np.vstack([a, b]).astype(np.float32)
    midpoint = np.array([[0.0, 0.0]], dtype=np.float32)
    single = MahalanobisDetector().fit(ref)
    per_class = MahalanobisDetector(n_classes=2).fit(ref)
    # One Gaussian puts the midpoint at its mean; two clusters put it ~10 sigma away.
    assert single.score(midpoint)[0] < 0.1
    assert per_class.score(midpoint)[0] == pytest.approx(25 / 0.25, rel=0.15)
    relative = RelativeMahalanobisDetector(n_classes=2).fit(ref)
    assert relative.score(midpoint)[0] > relative.score(a[:1].astype(np.float32))[0]


def test_msp_and_energy_on_known_logits() -> None:
    logits = np.array([[0.0, 0.0], [np.log(3.0), 0.0], [10.0, 10.0]])
    np.testing.assert_allclose(msp_score(logits), [0.5, 0.25, 0.5])
    np.testing.assert_allclose(energy_score(logits), [-np.log(2), -np.log(4), -10 - np.log(2)])
    # T scales: -T * logsumexp(z / T); at T=2 on [2, 0]: -2 * log(e + 1).
    assert energy_score([[2.0, 0.0]], temperature=2.0)[0] == pytest.approx(-2 * np.log(np.e + 1))


def test_head_detectors_score_between_clusters_higher_than_inside() -> None:
    rng = np.random.default_rng(3)
    centres = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    ref = np.vstack([c + 0.05 * rng.normal(size=(60, 3)) for c in centres]).astype(np.float32)
    inside = centres.copy()
    between = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]], dtype=np.float32)
    for det in (MSPDetector(n_classes=3), EnergyDetector(n_classes=3)):
        det.fit(ref)
        assert det.score(between).min() > det.score(inside).max(), det.name


@pytest.mark.parametrize(
    "detector",
    [KNNDetector(), MahalanobisDetector(), RelativeMahalanobisDetector(), MSPDetector()],
    ids=lambda d: d.name,
)
def test_detectors_satisfy_the_port_and_round_trip_their_state(detector: Detector) -> None:
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(80, 16)).astype(np.float32)
    query = rng.normal(size=(5, 16)).astype(np.float32)
    # Detector is not runtime-checkable: check the port's surface by hand.
    assert isinstance(detector.name, str) and callable(detector.fit) and callable(detector.score)
    assert detector.fit(ref) is detector
    arrays, meta = detector.state()  # type: ignore[attr-defined]
    restored = type(detector).from_state(arrays, meta, detector.name)  # type: ignore[attr-defined]
    np.testing.assert_allclose(restored.score(query), detector.score(query), rtol=1e-6)


@pytest.mark.parametrize(("n", "dim"), [(120, 200), (300, 200)])
def test_mahalanobis_matches_sklearn_pca_and_ledoit_wolf(n: int, dim: int) -> None:
    """The Gram/scatter eigh PCA and the numpy Ledoit-Wolf give the distances of the
    scikit-learn pipeline they replace (full-SVD PCA, LedoitWolf), for N < D and D < N < 2D."""
    from sklearn.covariance import LedoitWolf
    from sklearn.decomposition import PCA

    from astrolens.ml.detectors import MahalanobisDetector

    rng = np.random.default_rng(11)
    mix = rng.normal(size=(dim, dim)) * np.linspace(1.0, 0.01, dim)
    ref = (rng.normal(size=(n, dim)) @ mix).astype(np.float32)
    queries = (rng.normal(size=(40, dim)) @ mix * 1.5).astype(np.float32)

    x = ref.astype(np.float64)
    pca = PCA(n_components=n // 2, svd_solver="full").fit(x)
    z = pca.transform(x)
    precision = LedoitWolf(assume_centered=True).fit(z - z.mean(0)).precision_
    diff = pca.transform(queries.astype(np.float64)) - z.mean(0)
    expected = np.einsum("ij,jk,ik->i", diff, precision, diff)

    got = MahalanobisDetector().fit(ref).score(queries)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


@pytest.mark.parametrize(("n", "dim"), [(300, 1280), (120, 256), (64, 64), (25, 30)])
def test_a_fold_fitted_from_the_shared_gram_matrix_scores_as_a_plain_fit(n: int, dim: int) -> None:
    """K-fold fitting reads every fold off one Gram matrix (the Gram route, N <= D) or
    falls back to a plain fit: either way the numbers are those of fit-then-score."""
    rng = np.random.default_rng(n)
    x = (rng.normal(size=(n, dim)) * np.linspace(3.0, 0.1, dim) + 2.0).astype(np.float32)
    new = rng.normal(size=(15, dim)).astype(np.float32)
    context = MahalanobisDetector().fold_context(x)
    assert context is not None
    train = np.arange(n) % 5 != 0
    kept = MahalanobisDetector()
    held_scores = kept.fit_fold(context, train, keep=True)
    plain = MahalanobisDetector().fit(x[train])
    np.testing.assert_allclose(held_scores, plain.score(x[~train]), rtol=1e-9)
    np.testing.assert_allclose(kept.score(new), plain.score(new), rtol=1e-9)
    dropped = MahalanobisDetector()
    np.testing.assert_allclose(dropped.fit_fold(context, train, keep=False), held_scores)


def test_class_conditional_and_variance_fraction_fits_take_no_gram_route() -> None:
    x = np.random.default_rng(0).normal(size=(50, 80)).astype(np.float32)
    assert MahalanobisDetector(n_classes=3).fold_context(x) is None
    assert MahalanobisDetector(n_components=0.9).fold_context(x) is None
    assert MahalanobisDetector().fold_context(x[:, :40]) is None  # N > D: the scatter route
