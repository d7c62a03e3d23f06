"""Cheap morphology and colour of the central object of a cutout (numpy/scipy only).

The classic non-parametric galaxy measures (Conselice 2003; Lotz et al. 2004) describe exactly
what an ImageNet backbone is weakest at: how light is distributed around the centre. They take
the display-stretched float image in [0, 1] (HxW or HxWx3), assume the object is centred (survey
cutouts are), and return a fixed-length vector, `FEATURE_NAMES` in order. All are ratios, so the
display stretch's absolute level matters little.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FEATURE_NAMES: tuple[str, ...] = (
    "concentration",  # 5 log10(r80 / r20) of the growth curve
    "asymmetry",  # 180-degree rotational asymmetry
    "smoothness",  # clumpiness: light in small-scale structure
    "gini",  # inequality of pixel fluxes
    "ringness",  # strongest rise of the radial profile after a dip, vs its centre
    "profile_bumps",  # total rise of the profile beyond r20, vs its centre
    "size",  # half-light radius / half the cutout
    "ellipticity",  # 1 - b/a from second moments
    "colour_rg",  # log flux ratio red / green in the aperture
    "colour_gb",  # log flux ratio green / blue
    "colour_gradient",  # (g - b) outside r50 minus inside
    "background_noise",  # robust noise of the border, vs the central flux
)

_EPS = 1e-6

# Stored next to the backbone's vectors as an Embedding of this model id: the name and order of
# FEATURE_NAMES are the version. Change either, and bump it.
PHOTOMETRY_MODEL_ID = f"photometry/v1:{len(FEATURE_NAMES)}"
# Larger images are block-averaged down to this side first: the measures are ratios of a
# centred object's light, and a 4k frame would cost seconds for nothing.
MAX_SIDE = 256


def shrink(image: npt.ArrayLike, max_side: int = MAX_SIDE) -> npt.NDArray[np.float64]:
    """Block-average so that the longer side is at most `max_side` (integer factor)."""
    pixels = np.asarray(image, dtype=np.float64)
    factor = int(np.ceil(max(pixels.shape[:2]) / max_side))
    if factor <= 1:
        return pixels
    h, w = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    cropped = pixels[:h, :w]
    shape = (h // factor, factor, w // factor, factor, *pixels.shape[2:])
    return np.asarray(cropped.reshape(shape).mean(axis=(1, 3)))


def _background(channel: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Median and MAD-sigma of the outer 10 % border, where the central object isn't."""
    h, w = channel.shape
    b = max(1, min(h, w) // 10)
    border = np.concatenate(
        [channel[:b].ravel(), channel[-b:].ravel(), channel[:, :b].ravel(), channel[:, -b:].ravel()]
    )
    med = float(np.median(border))
    return med, float(1.4826 * np.median(np.abs(border - med)))


def _radial_profile(
    img: npt.NDArray[np.float64], r: npt.NDArray[np.float64], r_max: int
) -> npt.NDArray[np.float64]:
    bins = np.minimum(r.astype(np.int64), r_max)
    sums = np.bincount(bins.ravel(), img.ravel(), minlength=r_max + 1)
    counts = np.bincount(bins.ravel(), minlength=r_max + 1)
    return np.asarray(sums[:r_max] / np.maximum(counts[:r_max], 1), dtype=np.float64)


def _radius_at(growth: npt.NDArray[np.float64], fraction: float) -> float:
    """Radius enclosing `fraction` of the light, linearly interpolated on the growth curve."""
    target = fraction * growth[-1]
    i = int(np.searchsorted(growth, target))
    if i == 0:
        return 0.5
    if i >= len(growth):
        return float(len(growth))
    lo, hi = growth[i - 1], growth[i]
    return i + (target - lo) / max(hi - lo, _EPS)


def _gini(values: npt.NDArray[np.float64]) -> float:
    v = np.sort(np.abs(values))
    n = len(v)
    if n < 2 or v.sum() <= 0:
        return 0.0
    k = np.arange(1, n + 1)
    return float(((2 * k - n - 1) * v).sum() / (v.mean() * n * (n - 1)))


def photometric_features(image: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The FEATURE_NAMES vector of one image (float [0, 1], HxW or HxWx3)."""
    pixels = np.asarray(image, dtype=np.float64)
    rgb = pixels if pixels.ndim == 3 else pixels[:, :, None].repeat(3, axis=2)
    rgb = rgb[:, :, :3]
    channels = [rgb[:, :, c] - _background(rgb[:, :, c])[0] for c in range(3)]
    lum = np.mean(channels, axis=0)
    _, noise = _background(lum)
    h, w = lum.shape
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    r = np.hypot(yy - cy, xx - cx)
    r_max = max(2, min(h, w) // 2)

    profile = _radial_profile(lum, r, r_max)
    ring_area = np.pi * (np.arange(1, r_max + 1) ** 2 - np.arange(r_max) ** 2)
    growth = np.cumsum(np.clip(profile, 0, None) * ring_area)
    if growth[-1] <= _EPS:  # a blank cutout: nothing to measure
        return np.zeros(len(FEATURE_NAMES), dtype=np.float32)

    # Petrosian-like aperture: where the local surface brightness drops to 0.2 of the mean
    # inside; 1.5x that (capped at the cutout) holds the object without the neighbours' light.
    mean_inside = growth / (np.pi * np.arange(1, r_max + 1) ** 2)
    below = np.nonzero(profile < 0.2 * mean_inside)[0]
    r_petro = float(below[0] + 1) if len(below) else float(r_max)
    aperture = min(1.5 * r_petro, float(r_max))
    inside = r <= aperture
    n_ap = max(2, int(np.ceil(aperture)))
    growth_ap = growth[:n_ap]
    r20, r50, r80 = (_radius_at(growth_ap, f) for f in (0.2, 0.5, 0.8))

    flux = np.clip(lum, 0, None)
    total = flux[inside].sum() + _EPS
    rotated = lum[::-1, ::-1]
    asymmetry = np.abs(lum - rotated)[inside].sum() / (2 * np.abs(lum)[inside].sum() + _EPS)
    from scipy import ndimage  # here: every scan imports this package, few measure photometry

    smooth = ndimage.gaussian_filter(lum, sigma=max(1.0, 0.25 * r_petro))
    clumpy = inside & (r > 0.25 * r_petro)
    smoothness = np.clip(lum - smooth, 0, None)[clumpy].sum() / total

    weights = flux * inside
    wsum = weights.sum() + _EPS
    my, mx = (weights * yy).sum() / wsum, (weights * xx).sum() / wsum
    cyy = (weights * (yy - my) ** 2).sum() / wsum
    cxx = (weights * (xx - mx) ** 2).sum() / wsum
    cxy = (weights * (yy - my) * (xx - mx)).sum() / wsum
    eigval, eigvec = np.linalg.eigh(np.array([[cyy, cxy], [cxy, cxx]]))
    axis_ratio = float(np.sqrt(max(eigval[0], 0.0) / max(eigval[1], _EPS)))
    ellipticity = 1.0 - axis_ratio

    # Rings and shells show as a rise of the profile after a dip. An inclined ring is an
    # ellipse: measure the profile in elliptical annuli of the object's own axis ratio so the
    # ring's light lands in one annulus instead of being smeared over many circular ones.
    major = eigvec[:, 1]  # (dy, dx) of the major axis
    along = (yy - cy) * major[0] + (xx - cx) * major[1]
    across = -(yy - cy) * major[1] + (xx - cx) * major[0]
    r_ell = np.hypot(along, across / max(axis_ratio, 0.2))
    # The Petrosian radius stops at the first dip, i.e. inside an outer ring: look for rings
    # out to 4 of it (ring radii are typically 1.5-3x the bulge's).
    ring_extent = min(r_max, max(n_ap, int(4 * r_petro)))
    p = _radial_profile(lum, r_ell, r_max)[:ring_extent]
    centre = max(p[0], _EPS)
    running_min = np.minimum.accumulate(p)
    ringness = float(np.max(p - running_min) / centre)
    start = max(1, int(r20))
    rises = np.clip(np.diff(p[start - 1 :]), 0, None).sum() / centre if len(p) > start else 0.0

    def ch_flux(c: int, mask: npt.NDArray[np.bool_]) -> float:
        return float(np.clip(channels[c], 0, None)[mask].sum()) + _EPS

    colour_rg = np.log(ch_flux(0, inside) / ch_flux(1, inside))
    colour_gb = np.log(ch_flux(1, inside) / ch_flux(2, inside))
    core, outer = inside & (r <= r50), inside & (r > r50)
    gb_core = np.log(ch_flux(1, core) / ch_flux(2, core))
    gb_outer = np.log(ch_flux(1, outer) / ch_flux(2, outer))

    return np.array(
        [
            5 * np.log10(max(r80, _EPS) / max(r20, 0.5)),
            asymmetry,
            smoothness,
            _gini(lum[inside]),
            ringness,
            rises,
            r50 / r_max,
            ellipticity,
            colour_rg,
            colour_gb,
            gb_outer - gb_core,
            noise / centre,
        ],
        dtype=np.float32,
    )


def photometric_matrix(images: list[npt.ArrayLike]) -> npt.NDArray[np.float32]:
    """(N, len(FEATURE_NAMES)) for a batch; blocking numpy work, run it in an executor."""
    return np.stack([photometric_features(im) for im in images]).astype(np.float32)
