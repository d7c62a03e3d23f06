from __future__ import annotations

import numpy as np
import pytest

from astrolens.ui.stretch import Limits, Stretch, StretchParams, apply_stretch, zscale_limits


def test_zscale_ignores_a_few_bright_stars() -> None:
    rng = np.random.default_rng(0)
    sky = rng.normal(100.0, 5.0, (200, 200)).astype(np.float32)
    sky[50:53, 50:53] = 60_000.0  # a saturated star
    lo, hi = zscale_limits(sky)
    assert 70 < lo < 100 < hi < 130, (lo, hi)


def test_zscale_of_a_constant_image_is_its_value() -> None:
    lo, hi = zscale_limits(np.full((10, 10), 7.0))
    assert lo == hi == 7.0


@pytest.mark.parametrize("stretch", list(Stretch))
def test_stretch_is_monotonic_and_spans_the_byte_range(stretch: Stretch) -> None:
    ramp = np.linspace(0, 1000, 256, dtype=np.float32).reshape(16, 16)
    out = apply_stretch(ramp, StretchParams(stretch=stretch, limits=Limits.MINMAX))
    flat = out.ravel().astype(int)
    assert out.dtype == np.uint8 and out.shape == ramp.shape
    assert flat[0] == 0 and flat[-1] == 255
    assert np.all(np.diff(flat) >= 0)


def test_log_and_asinh_lift_faint_pixels_above_linear() -> None:
    ramp = np.linspace(0, 1, 101, dtype=np.float32)
    lin = apply_stretch(ramp, StretchParams(Stretch.LINEAR, Limits.MINMAX))
    log = apply_stretch(ramp, StretchParams(Stretch.LOG, Limits.MINMAX))
    asinh = apply_stretch(ramp, StretchParams(Stretch.ASINH, Limits.MINMAX))
    assert log[5] > 3 * lin[5] and asinh[5] > 2 * lin[5]


def test_colour_keeps_channel_ratios_and_nans_are_black() -> None:
    img = np.zeros((4, 4, 3), np.float32)
    img[..., 0] = 200.0
    img[..., 1] = 100.0
    img[0, 0, 2] = np.nan
    out = apply_stretch(img, StretchParams(Stretch.LINEAR, Limits.MINMAX))
    assert out[1, 1, 0] == 255 and 120 < out[1, 1, 1] < 135 and out[0, 0, 2] == 0
