"""Display stretches for astronomical images: linear, log and asinh, with zscale limits.

Implemented here with numpy because the UI layer may not import astrolens.imaging. These only
change what the user sees; the scorer never sees their output.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]


class Stretch(enum.StrEnum):
    LINEAR = "linear"
    LOG = "log"
    ASINH = "asinh"


class Limits(enum.StrEnum):
    MINMAX = "minmax"
    PERCENTILE = "99.5%"
    ZSCALE = "zscale"


@dataclass(frozen=True, slots=True)
class StretchParams:
    stretch: Stretch = Stretch.LINEAR
    limits: Limits = Limits.PERCENTILE
    log_a: float = 1000.0  # log(a*x + 1) / log(a + 1): larger a lifts faint structure more
    asinh_beta: float = 0.1  # asinh(x / beta) / asinh(1 / beta): linear below beta, log above


def zscale_limits(
    data: npt.ArrayLike,
    *,
    n_samples: int = 1000,
    contrast: float = 0.25,
    max_reject: float = 0.5,
    min_npixels: int = 5,
    krej: float = 2.5,
    max_iterations: int = 5,
) -> tuple[float, float]:
    """IRAF's zscale: fit a line to the sorted sample, then set limits from its slope.

    It shows the sky noise and faint structure while not letting a few bright stars set the
    range, which is what astronomers expect from a first look at a frame.
    """
    values = np.asarray(data, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    stride = max(1, values.size // n_samples)
    samples = np.sort(values[::stride][:n_samples])
    npix = samples.size
    vmin, vmax = float(samples[0]), float(samples[-1])
    if npix < 2:
        return vmin, vmax
    center = (npix - 1) // 2
    median = float(np.median(samples))
    min_pix = max(min_npixels, int(npix * max_reject))
    x = np.arange(npix, dtype=np.float64)
    good = np.ones(npix, dtype=bool)
    slope = 0.0
    intercept = median
    for _ in range(max_iterations):
        if good.sum() < min_pix:
            break
        slope, intercept = np.polyfit(x[good], samples[good], 1)
        residuals = samples - (intercept + slope * x)
        sigma = float(np.std(residuals[good]))
        if sigma == 0:
            break
        new_good = np.abs(residuals) < krej * sigma
        if np.array_equal(new_good, good):
            break
        good = new_good
    if good.sum() < min_pix:
        return vmin, vmax
    if contrast > 0:
        slope /= contrast
    z1 = max(vmin, median - (center - 1) * slope)
    z2 = min(vmax, median + (npix - center) * slope)
    if z2 <= z1:
        return vmin, vmax
    return float(z1), float(z2)


def display_limits(data: Array, limits: Limits) -> tuple[float, float]:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    if limits is Limits.ZSCALE:
        return zscale_limits(finite)
    if limits is Limits.PERCENTILE:
        lo, hi = np.percentile(finite, [0.5, 99.5])
        return float(lo), float(hi)
    return float(finite.min()), float(finite.max())


def apply_stretch(data: npt.ArrayLike, params: StretchParams) -> npt.NDArray[np.uint8]:
    """Pixels (HxW or HxWx3, any dtype) to display bytes, same shape.

    Colour images are stretched with one set of limits over all channels, so colours keep
    their ratios instead of each channel being normalised on its own.
    """
    arr = np.asarray(data, dtype=np.float32)
    lo, hi = display_limits(arr, params.limits)
    span = hi - lo if hi > lo else 1.0
    x = np.clip((np.nan_to_num(arr, nan=lo) - lo) / span, 0.0, 1.0)
    if params.stretch is Stretch.LOG:
        a = params.log_a
        x = np.log1p(a * x) / np.log1p(a)
    elif params.stretch is Stretch.ASINH:
        b = params.asinh_beta
        x = np.arcsinh(x / b) / np.arcsinh(1.0 / b)
    return np.asarray(np.round(x * 255.0), dtype=np.uint8)
