"""A candidate's image as a FITS file that Aladin and DS9 can place on the sky.

A stored FITS original goes as it is (its own header keeps its WCS). A JPEG/PNG survey cutout
becomes a 2-D FITS image (luminance, rows flipped: FITS counts rows from the bottom) with a
TAN WCS when we know it is a north-up cutout centred on its position with a known pixel
scale: that is how the SDSS ImgCutout and Legacy Survey cutout services draw them. Anything
else (a picture, a stamp cut from a larger frame) gets no WCS rather than a wrong one.
Blocking: call from an executor.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np

from astrolens.domain.candidates import Candidate
from astrolens.domain.errors import UnreadableImageError
from astrolens.interop.export import write_atomically

FITS_MAGIC = b"SIMPLE  ="


def is_fits(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(FITS_MAGIC)) == FITS_MAGIC


def cutout_has_known_wcs(cand: Candidate) -> bool:
    prov = cand.image.provenance
    return (
        prov.sky is not None
        and prov.pixel_scale_arcsec is not None
        and prov.pixel_scale_arcsec > 0
        and cand.image.parent_uri is None  # a stamp from a frame is not centred on its file
    )


def write_candidate_fits(cand: Candidate, out: Path) -> bool:
    """Write the candidate's image to `out`; returns whether it carries a WCS."""
    path = Path(cand.image.image_path) if cand.image.image_path else None
    if path is None or not path.is_file():
        raise UnreadableImageError(f"candidate #{cand.id} has no stored image to send")
    if is_fits(path):
        write_atomically(out, lambda temp: shutil.copyfile(path, temp))
        from astropy.io import fits
        from astropy.wcs import WCS

        with warnings.catch_warnings():  # only a probe: the receiving tool judges the header
            warnings.simplefilter("ignore")
            with fits.open(out) as hdus:
                return any(
                    WCS(h.header).has_celestial for h in hdus if h.header.get("NAXIS", 0) >= 2
                )
    from astropy.io import fits
    from PIL import Image

    try:
        with Image.open(path) as img:
            grey = np.asarray(img.convert("F"), dtype=np.float32)
    except OSError as exc:
        raise UnreadableImageError(f"candidate #{cand.id}: cannot read {path}: {exc}") from exc
    data = np.flipud(grey)
    header = fits.Header()
    header["OBJECT"] = f"AstroLens #{cand.id}"
    header["ORIGIN"] = "AstroLens"
    with_wcs = cutout_has_known_wcs(cand)
    if with_wcs:
        prov = cand.image.provenance
        assert prov.sky is not None and prov.pixel_scale_arcsec is not None
        scale_deg = prov.pixel_scale_arcsec / 3600.0
        h, w = data.shape
        header.update(
            {
                "WCSAXES": 2,
                "CTYPE1": "RA---TAN",
                "CTYPE2": "DEC--TAN",
                "CUNIT1": "deg",
                "CUNIT2": "deg",
                "CRPIX1": (w + 1) / 2.0,  # FITS pixels are 1-based: the image centre
                "CRPIX2": (h + 1) / 2.0,
                "CRVAL1": prov.sky.ra_deg,
                "CRVAL2": prov.sky.dec_deg,
                "CDELT1": -scale_deg,  # east to the left, as the cutout services draw it
                "CDELT2": scale_deg,
                "RADESYS": "ICRS",
            }
        )
    hdu = fits.PrimaryHDU(data=data, header=header)
    write_atomically(out, lambda temp: hdu.writeto(temp, overwrite=True))
    return with_wcs
