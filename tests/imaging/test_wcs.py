"""Sky positions from real headers agree with the header's own reference values."""

from __future__ import annotations

from pathlib import Path

from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits

from astrolens.domain.sky import SkyPosition
from astrolens.imaging import ImageDecoder
from astrolens.imaging.wcs import celestial_wcs, center_sky, pixel_scale_arcsec, pixel_to_sky
from tests.imaging.helpers import raw_from


def test_reference_pixel_maps_to_crval(shared_data: Path) -> None:
    header = fits.getheader(shared_data / "fits" / "astride_long.fits")
    wcs = celestial_wcs(header)
    assert wcs is not None
    sky = pixel_to_sky(wcs, header["CRPIX1"] - 1, header["CRPIX2"] - 1)
    assert sky is not None
    # FK5 (the header's RADESYS) differs from ICRS by a few tens of milliarcseconds.
    assert sky.separation_arcsec(SkyPosition(header["CRVAL1"], header["CRVAL2"])) < 0.1


def test_pixel_scale_matches_header(shared_data: Path) -> None:
    header = fits.getheader(shared_data / "fits" / "HorseHead.fits")
    wcs = celestial_wcs(header)
    assert wcs is not None
    scale = pixel_scale_arcsec(wcs)
    expected = abs(header.get("CDELT1", 0)) * 3600 or None
    if expected is None:
        import numpy as np

        expected = float(np.hypot(header["CD1_1"], header["CD2_1"])) * 3600
    assert scale is not None and abs(scale - expected) / expected < 0.02


def test_galactic_wcs_is_converted_to_icrs(shared_data: Path) -> None:
    header = fits.getheader(shared_data / "fits" / "spitzer_example_image.fits")
    wcs = celestial_wcs(header)
    assert wcs is not None
    sky = pixel_to_sky(wcs, header["CRPIX1"] - 1, header["CRPIX2"] - 1)
    expected = SkyCoord(header["CRVAL1"] * u.deg, header["CRVAL2"] * u.deg, frame="galactic").icrs
    assert sky is not None
    assert sky.separation_arcsec(SkyPosition(expected.ra.deg, expected.dec.deg)) < 0.1


def test_decoded_frame_carries_centre_and_scale(decoder: ImageDecoder, shared_data: Path) -> None:
    path = shared_data / "fits" / "astride_long.fits"
    header = fits.getheader(path)
    wcs = celestial_wcs(header)
    assert wcs is not None
    frame = decoder.decode(raw_from(path))[0]
    assert frame.provenance.sky == center_sky(wcs, (header["NAXIS2"], header["NAXIS1"]))
    assert frame.provenance.pixel_scale_arcsec is not None


def test_absent_or_broken_wcs_gives_none(shared_data: Path) -> None:
    assert celestial_wcs(fits.getheader(shared_data / "fits" / "M51.fits")) is None
    assert celestial_wcs(None) is None
    broken = fits.Header()
    broken["CTYPE1"] = "RA---TAN"
    broken["CTYPE2"] = "DEC--TAN"
    broken["CRVAL2"] = 123.0  # impossible declination
    broken["CDELT1"] = 0.0
    broken["CDELT2"] = 0.0
    assert celestial_wcs(broken) is None
    weird = fits.Header()
    weird["CTYPE1"] = "RA---XYZ"
    weird["CTYPE2"] = "DEC--XYZ"
    assert celestial_wcs(weird) is None
