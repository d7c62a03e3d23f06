"""The re-ranker's features: [unit embedding, unit robust-standardised photometry]."""

from __future__ import annotations

import numpy as np
import pytest

from astrolens.ml.features.photometry import FEATURE_NAMES, PHOTOMETRY_MODEL_ID, shrink
from astrolens.ml.learning.representation import ranking_features, robust_standardise


def test_standardise_is_robust_and_leaves_unmeasured_rows_at_zero() -> None:
    x = np.array(
        [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [1e6, 40.0], [2.0, 20.0], [np.nan, np.nan]]
    )
    z = robust_standardise(x)
    assert np.all(np.abs(z) <= 6.0) and z[3, 0] == 6.0, "one saturated star cannot dominate"
    assert z[1].tolist() == [0.0, 0.0]  # the medians
    assert z[5].tolist() == [0.0, 0.0]  # not measured: neutral
    assert robust_standardise(np.full((3, 2), np.nan)).tolist() == [[0.0, 0.0]] * 3
    const = robust_standardise(np.ones((4, 2)))  # no spread: no division by zero
    assert np.all(np.isfinite(const)) and np.all(const == 0)


def test_both_blocks_weigh_the_same_and_a_missing_block_is_empty() -> None:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((6, 5)) * 3
    phot = rng.standard_normal((6, len(FEATURE_NAMES)))
    phot[2] = np.nan
    x = ranking_features(emb, phot)
    assert x.shape == (6, 5 + len(FEATURE_NAMES)) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x[:, :5], axis=1), 1.0, rtol=1e-5)
    norms = np.linalg.norm(x[:, 5:], axis=1)
    np.testing.assert_allclose(np.delete(norms, 2), 1.0, rtol=1e-5)
    assert norms[2] == 0.0
    assert ranking_features(emb).shape == (6, 5)
    with pytest.raises(ValueError):
        ranking_features(emb, phot[:3])


def test_photometry_is_versioned_and_big_frames_are_shrunk_first() -> None:
    assert PHOTOMETRY_MODEL_ID.endswith(f":{len(FEATURE_NAMES)}")
    big = np.ones((1000, 600, 3))
    assert max(shrink(big).shape[:2]) <= 256 and shrink(big).shape[2] == 3
    small = np.ones((100, 80))
    assert shrink(small).shape == (100, 80)
