from __future__ import annotations

import numpy as np
import pytest

from astrolens.domain.display import to_uint8
from astrolens.imaging.stretch import StretchMethod, scale_photographic, stretch


@pytest.mark.parametrize("method", list(StretchMethod))
def test_every_stretch_maps_to_unit_range(method: StretchMethod) -> None:
    rng = np.random.default_rng(0)
    data = rng.lognormal(3, 1.5, size=(100, 120)).astype(np.float32)
    data[5, 5] = np.nan
    out = stretch(data, method)
    assert out.dtype == np.float32 and out.shape == data.shape
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert out[5, 5] == 0.0
    # Order is kept: a brighter pixel never ends darker.
    flat = data.ravel()
    order = np.argsort(np.nan_to_num(flat, nan=-1))
    assert np.all(np.diff(out.ravel()[order][1:]) >= -1e-6)


def test_asinh_lifts_faint_structure_above_linear() -> None:
    data = np.linspace(0, 1000, 10_000, dtype=np.float32).reshape(100, 100)
    faint = (slice(0, 5), slice(None))
    assert stretch(data, "asinh")[faint].mean() > 2 * stretch(data, "linear")[faint].mean()


def test_flat_image_is_black_not_nan() -> None:
    assert not stretch(np.full((10, 10), 7.0), "asinh").any()


def test_photographic_is_only_rescaled() -> None:
    data = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_allclose(scale_photographic(data), data / 255.0)
    np.testing.assert_array_equal(to_uint8(scale_photographic(data)), data)
