"""Photometric features on synthetic galaxies whose answers are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from astrolens.ml.features import FEATURE_NAMES, photometric_features, photometric_matrix

N = 129
YY, XX = np.mgrid[0:N, 0:N] - (N - 1) / 2


def _gaussian(sigma_y: float, sigma_x: float | None = None) -> np.ndarray:
    sigma_x = sigma_y if sigma_x is None else sigma_x
    return np.exp(-0.5 * ((YY / sigma_y) ** 2 + (XX / sigma_x) ** 2))


def _feature(image: np.ndarray, name: str) -> float:
    return float(photometric_features(image)[FEATURE_NAMES.index(name)])


def test_round_gaussian_has_known_concentration_and_no_asymmetry() -> None:
    img = 0.05 + 0.9 * _gaussian(6.0)
    # Growth curve of a 2-D Gaussian: r_f = sigma * sqrt(-2 ln(1 - f)).
    expected_c = 5 * np.log10(np.sqrt(np.log(0.2) / np.log(0.8)))
    assert _feature(img, "concentration") == pytest.approx(expected_c, abs=0.2)
    assert _feature(img, "asymmetry") < 0.02
    assert _feature(img, "ellipticity") < 0.05
    assert _feature(img, "ringness") < 0.05


def test_elongated_gaussian_ellipticity_is_one_minus_axis_ratio() -> None:
    img = 0.9 * _gaussian(4.0, 10.0)
    assert _feature(img, "ellipticity") == pytest.approx(1 - 4 / 10, abs=0.06)


def test_a_ring_around_a_core_scores_high_ringness() -> None:
    core = _gaussian(3.0)
    ring = 0.5 * np.exp(-0.5 * ((np.hypot(YY, XX) - 18) / 2.0) ** 2)
    plain, ringed = _feature(0.8 * core, "ringness"), _feature(0.8 * (core + ring), "ringness")
    assert plain < 0.05
    assert ringed > 0.3


def test_an_off_centre_clump_raises_asymmetry() -> None:
    clump = 0.6 * np.exp(-0.5 * (((YY - 8) ** 2 + (XX - 6) ** 2) / 2.0**2))
    base = 0.8 * _gaussian(8.0)
    assert _feature(base, "asymmetry") < 0.01
    # |I - I_rot| holds the clump twice, over 2 * total flux: A = F_clump / F_total.
    f_clump, f_base = 0.6 * 2 * np.pi * 2.0**2, 0.8 * 2 * np.pi * 8.0**2
    assert _feature(base + clump, "asymmetry") == pytest.approx(
        f_clump / (f_clump + f_base), rel=0.1
    )


def test_colour_of_a_red_object_and_blank_images() -> None:
    blob = _gaussian(6.0)
    red = np.stack([0.9 * blob, 0.45 * blob, 0.2 * blob], axis=2)
    assert _feature(red, "colour_rg") == pytest.approx(np.log(2.0), abs=0.02)
    assert _feature(red, "colour_gb") == pytest.approx(np.log(0.45 / 0.2), abs=0.02)
    grey = photometric_features(blob)  # HxW works and has zero colour
    assert grey[FEATURE_NAMES.index("colour_rg")] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_array_equal(photometric_features(np.zeros((32, 32))), 0.0)


def test_matrix_shape_and_finite_on_noise() -> None:
    rng = np.random.default_rng(0)
    images = [rng.uniform(size=(48, 48, 3)).astype(np.float32) for _ in range(3)]
    m = photometric_matrix(images)
    assert m.shape == (3, len(FEATURE_NAMES)) and m.dtype == np.float32
    assert np.all(np.isfinite(m))
