"""Display stretches: raw pixel values to float32 in [0, 1].

Used twice: by the decoder (what the model sees) and by the UI (what the person sees), so the
choice of stretch is a parameter. Photographic 8-bit images (JPEG/PNG from a survey's colour
cutout service, APOD pictures) are already stretched for display and are only rescaled;
scientific data (FITS, 16-bit) is linear in flux and needs a non-linear stretch to show faint
structure next to bright cores.
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

from astrolens.domain.images import FloatImage

# Percentiles are estimated from at most this many pixels: exact percentiles of a 4k x 4k frame
# cost a sort of 16 M values, and a regular subsample gives the same limits to display precision.
_SAMPLE_PIXELS = 250_000


class StretchMethod(enum.StrEnum):
    ASINH = "asinh"  # the robust default for scientific data: linear near the sky, log in cores
    LOG = "log"
    LINEAR = "linear"
    ZSCALE = "zscale"  # IRAF's zscale limits with a linear stretch: the classic CCD look


def stretch(
    data: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    method: StretchMethod | str = StretchMethod.ASINH,
    *,
    lower_percentile: float = 0.5,
    upper_percentile: float = 99.8,
    asinh_a: float = 0.1,
    log_a: float = 1000.0,
    per_channel: bool = False,
) -> FloatImage:
    """Stretch HxW or HxWx3 data to float32 in [0, 1].

    Limits come from percentile clipping of the finite pixels (or zscale). NaN and inf pixels
    become 0 (the sky floor), never propagate. `per_channel` stretches each plane on its own
    (right for planes of different bands or exposures, e.g. a ZTF triplet); otherwise colour
    planes share limits so the colour balance survives.
    """
    method = StretchMethod(method)
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim == 3 and per_channel:
        planes = [
            stretch(
                arr[..., c],
                method,
                lower_percentile=lower_percentile,
                upper_percentile=upper_percentile,
                asinh_a=asinh_a,
                log_a=log_a,
            )
            for c in range(arr.shape[2])
        ]
        return np.ascontiguousarray(np.stack(planes, axis=-1))
    vmin, vmax = limits(arr, method, lower_percentile, upper_percentile)
    span = vmax - vmin
    if span <= 0 or not np.isfinite(span):
        # A flat image: show it as flat grey-black instead of dividing by zero.
        out = np.zeros(arr.shape, dtype=np.float32)
        return out
    norm = (arr - vmin) / span
    np.clip(norm, 0.0, 1.0, out=norm)
    norm[~np.isfinite(norm)] = 0.0
    # Imported here: 8-bit pictures never need astropy, and a scan of them starts faster.
    from astropy.visualization import AsinhStretch, LinearStretch, LogStretch

    if method is StretchMethod.ASINH:
        norm = AsinhStretch(a=asinh_a)(norm, clip=True)
    elif method is StretchMethod.LOG:
        norm = LogStretch(a=log_a)(norm, clip=True)
    else:
        norm = LinearStretch()(norm, clip=True)
    return np.ascontiguousarray(norm, dtype=np.float32)


def limits(
    arr: npt.NDArray[np.float32],
    method: StretchMethod,
    lower_percentile: float = 0.5,
    upper_percentile: float = 99.8,
) -> tuple[float, float]:
    """(vmin, vmax) of the finite pixels; ValueError if there are none."""
    sample = _finite_sample(arr)
    if sample.size == 0:
        raise ValueError("the image has no finite pixels")
    if method is StretchMethod.ZSCALE:
        from astropy.visualization import ZScaleInterval

        lo, hi = ZScaleInterval().get_limits(sample)
        return float(lo), float(hi)
    lo, hi = np.percentile(sample, [lower_percentile, upper_percentile])
    return float(lo), float(hi)


def _finite_sample(arr: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    flat = arr.reshape(-1)
    if flat.size > _SAMPLE_PIXELS:
        flat = flat[:: flat.size // _SAMPLE_PIXELS + 1]
    return flat[np.isfinite(flat)]


def scale_photographic(data: npt.NDArray[np.integer]) -> FloatImage:
    """An already display-stretched 8-bit image, rescaled to [0, 1] and nothing else."""
    out = np.asarray(data, dtype=np.float32)
    out *= 1.0 / 255.0
    return out
