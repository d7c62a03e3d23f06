"""PatchCore-mean (local evidence) and the morphology detector: behaviour on constructed
inputs whose answer is known, state round trips, and a bounded patch bank."""

from __future__ import annotations

import numpy as np
import pytest

from astrolens.ml.detectors.morphology import FEATURES, MorphologyDetector, morphology_features
from astrolens.ml.detectors.patchcore import PatchCoreDetector, coreset


def _images_of_patches(rng: np.random.Generator, n: int, patches: int, dim: int) -> np.ndarray:
    centres = np.eye(dim, dtype=np.float32)[:4] * 3.0  # four kinds of normal patch
    picks = rng.integers(0, 4, size=(n, patches))
    noise = 0.1 * rng.standard_normal((n, patches, dim)).astype(np.float32)
    return (centres[picks] + noise).reshape(n, patches * dim)


def test_patchcore_mean_finds_images_with_unseen_patches() -> None:
    rng = np.random.default_rng(0)
    reference = _images_of_patches(rng, 60, 16, 8)
    normal = _images_of_patches(rng, 20, 16, 8)
    odd = _images_of_patches(rng, 20, 16, 8).reshape(20, 16, 8)
    odd[:, :6] = 3.0 * np.eye(8, dtype=np.float32)[6]  # six patches of a kind never seen
    detector = PatchCoreDetector(8, max_bank=300).fit(reference)
    assert detector.bank_size == 300  # bounded: 960 reference patches -> a 300-patch coreset
    scores = detector.score(np.vstack([normal, odd.reshape(20, -1)]))
    assert scores[20:].min() > scores[:20].max()

    arrays, meta = detector.state()
    again = PatchCoreDetector.from_state(arrays, meta, "patchcore")
    np.testing.assert_allclose(again.score(normal), detector.score(normal))


def test_coreset_covers_every_cluster() -> None:
    rng = np.random.default_rng(1)
    centres = 10.0 * rng.standard_normal((5, 16)).astype(np.float32)
    sizes = [2000, 500, 100, 20, 5]  # a rare kind of patch must survive the reduction
    points = np.vstack(
        [c + rng.standard_normal((s, 16)) for c, s in zip(centres, sizes, strict=True)]
    )
    labels = np.repeat(np.arange(5), sizes)
    keep = coreset(points.astype(np.float32), 100)
    assert len(set(keep.tolist())) == 100
    assert set(labels[keep].tolist()) == {0, 1, 2, 3, 4}


def test_patchcore_rejects_rows_that_are_not_patches() -> None:
    with pytest.raises(ValueError, match="patches"):
        PatchCoreDetector(7).fit(np.zeros((3, 20), np.float32))


def _blob(side: int = 96, *, offset: float = 0.0, second: bool = False) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    c = (side - 1) / 2
    image = np.exp(-((yy - c) ** 2 + (xx - c - offset) ** 2) / 60.0)
    if second:
        image += 0.8 * np.exp(-((yy - c - 25) ** 2 + (xx - c + 20) ** 2) / 30.0)
    return np.repeat((image / image.max())[..., None], 3, axis=-1).astype(np.float32)


def test_morphology_features_see_asymmetry_and_a_companion() -> None:
    features = morphology_features([_blob(), _blob(second=True)])
    assert features.shape == (2, len(FEATURES))
    col = {name: i for i, name in enumerate(FEATURES)}
    single, merger = features
    assert merger[col["asymmetry"]] > single[col["asymmetry"]] + 0.2
    assert merger[col["polar_residual"]] > single[col["polar_residual"]]
    assert abs(single[col["core_colour"]]) < 1e-3  # grey light has no colour gradient


def test_morphology_detector_ranks_mergers_above_single_galaxies() -> None:
    rng = np.random.default_rng(2)
    reference = [_blob(offset=float(o)) for o in rng.uniform(-2, 2, 30)]
    singles = [_blob(offset=float(o)) for o in rng.uniform(-2, 2, 5)]
    mergers = [_blob(offset=float(o), second=True) for o in rng.uniform(-2, 2, 5)]
    detector = MorphologyDetector().fit(morphology_features(reference))
    scores = detector.score(morphology_features(singles + mergers))
    assert scores[5:].min() > scores[:5].max()
    arrays, meta = detector.state()
    again = MorphologyDetector.from_state(arrays, meta, "morphology")
    np.testing.assert_allclose(again.score(morphology_features(singles)), scores[:5])
