"""The celestial WCS of a FITS header: where a pixel lies on the sky, and how big a pixel is.

Headers in the wild are often broken (IRAF-era dates, SIP keywords without the CTYPE suffix,
distortion tables in missing extensions). A header we cannot interpret gives no WCS and no
sky position; it never stops the image from being decoded.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from astrolens.domain.sky import SkyPosition
from astrolens.imaging import quiet  # noqa: F401  (warning filters, before any decode thread)

if TYPE_CHECKING:  # astropy is imported when a FITS header is read, not by JPEG/PNG scans
    from astropy.io.fits import Header
    from astropy.wcs import WCS

log = logging.getLogger(__name__)


def celestial_wcs(header: Header | None) -> WCS | None:
    """The 2-D celestial part of the header's WCS, or None when absent or unusable."""
    if header is None or "CTYPE1" not in header:
        return None
    from astropy.wcs import WCS

    try:
        full = WCS(header, relax=True)
        if not full.has_celestial:
            return None
        wcs = full.celestial
        # Probe once: a WCS that cannot map its own reference pixel is no WCS.
        if pixel_to_sky(wcs, 0.0, 0.0) is None:
            return None
        return wcs
    except Exception as exc:  # astropy raises many types for malformed headers
        log.info("ignoring unusable WCS: %s", exc)
        return None


def pixel_to_sky(wcs: WCS, x: float, y: float) -> SkyPosition | None:
    """ICRS position of 0-based pixel (x, y) (numpy column, row), or None off the projection."""
    try:
        coord = wcs.pixel_to_world(x, y)
        icrs = coord.icrs  # galactic or FK5 frames (Spitzer GLON-CAR, old plates) -> ICRS
        ra, dec = float(icrs.ra.deg), float(icrs.dec.deg)
    except Exception as exc:
        log.debug("pixel (%s, %s) has no sky position: %s", x, y, exc)
        return None
    if not (math.isfinite(ra) and math.isfinite(dec)) or not -90.0 <= dec <= 90.0:
        return None
    return SkyPosition(ra, dec)


def center_sky(wcs: WCS, shape: tuple[int, ...]) -> SkyPosition | None:
    """Sky position of the image centre; `shape` is the numpy shape (rows, cols, ...)."""
    rows, cols = shape[0], shape[1]
    return pixel_to_sky(wcs, (cols - 1) / 2.0, (rows - 1) / 2.0)


def pixel_scale_arcsec(wcs: WCS) -> float | None:
    """Mean pixel side in arcseconds, or None when the WCS has no sensible scale."""
    from astropy.wcs.utils import proj_plane_pixel_scales

    try:
        scales = proj_plane_pixel_scales(wcs)
    except Exception:
        return None
    units = [str(u) for u in wcs.wcs.cunit]
    if any(u not in ("deg", "") for u in units):
        return None
    value = float(np.mean(np.abs(scales))) * 3600.0
    return value if math.isfinite(value) and value > 0 else None
