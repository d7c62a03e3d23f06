"""What `image.load.fits` sends: a FITS original as it is, a picture without a made-up WCS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.sky import SkyPosition
from astrolens.interop.fits_image import write_candidate_fits
from tests.interop.candidates import candidate


def test_a_fits_original_goes_as_it_is(shared_data: Path, tmp_path: Path) -> None:
    original = shared_data / "fits" / "HorseHead.fits"  # a DSS plate scan with its WCS
    cand = candidate(1, SkyPosition(85.25, -2.46), image_path=str(original))
    out = tmp_path / "sent.fits"
    assert write_candidate_fits(cand, out) is True
    assert out.read_bytes() == original.read_bytes()


def test_a_picture_without_position_gets_no_wcs(tmp_path: Path) -> None:
    png = tmp_path / "picture.png"
    Image.fromarray(np.full((20, 30), 128, dtype=np.uint8)).save(png)
    cand = candidate(2, None, image_path=str(png), source_id="folder")
    out = tmp_path / "sent.fits"
    assert write_candidate_fits(cand, out) is False
    with fits.open(out) as hdus:
        assert hdus[0].data.shape == (20, 30) and not WCS(hdus[0].header).has_celestial
        assert hdus[0].header["OBJECT"] == "AstroLens #2"


def test_a_stamp_cut_from_a_frame_is_not_given_the_frame_centre(tmp_path: Path) -> None:
    import dataclasses

    jpg = tmp_path / "stamp.jpg"
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(jpg)
    cand = candidate(3, SkyPosition(1.0, 2.0), image_path=str(jpg))
    stamp = dataclasses.replace(
        cand, image=dataclasses.replace(cand.image, parent_uri="file:///frame.fits")
    )
    assert write_candidate_fits(stamp, tmp_path / "s.fits") is False


def test_a_missing_image_is_a_clear_error(tmp_path: Path) -> None:
    cand = candidate(4, SkyPosition(1.0, 2.0), image_path=str(tmp_path / "gone.jpg"))
    with pytest.raises(UnreadableImageError, match="#4 has no stored image"):
        write_candidate_fits(cand, tmp_path / "x.fits")
