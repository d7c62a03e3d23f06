"""Large frames become tens of object stamps plus one stored preview."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.images import ImageGroup
from astrolens.imaging import ImageDecoder
from astrolens.imaging.wcs import celestial_wcs, pixel_to_sky
from tests.imaging.helpers import raw_from


@pytest.mark.parametrize(
    "name", ["astride_long.fits", "M51.fits", "HorseHead.fits", "ngc6976.jpeg"]
)
def test_frame_becomes_preview_and_stamps(
    decoder: ImageDecoder, shared_data: Path, name: str
) -> None:
    path = shared_data / "fits" / name
    decoded = decoder.decode(raw_from(path))
    preview, stamps = decoded[0], decoded[1:]
    assert preview.group is ImageGroup.PICTURE and preview.parent_uri is None
    assert max(preview.pixels.shape[:2]) <= 1024
    assert 20 <= len(stamps) <= 64
    uris = {s.provenance.uri for s in stamps}
    assert len(uris) == len(stamps)  # each stamp is its own record
    for stamp in stamps:
        assert stamp.group is ImageGroup.SURVEY
        assert stamp.parent_uri == path.as_uri()
        assert stamp.stamp_xy is not None and stamp.object_size_px and stamp.object_size_px > 0
        assert stamp.height == stamp.width and 32 <= stamp.height <= 256
        assert (
            stamp.pixels.dtype == np.float32 and 0 <= stamp.pixels.min() <= stamp.pixels.max() <= 1
        )
    # Stamps are distinct images, not copies of one cut.
    assert len({s.content_hash for s in stamps}) == len(stamps)


def test_stamp_sky_positions_follow_the_wcs(decoder: ImageDecoder, shared_data: Path) -> None:
    from astropy.io import fits

    path = shared_data / "fits" / "HorseHead.fits"
    wcs = celestial_wcs(fits.getheader(path))
    assert wcs is not None
    stamps = decoder.decode(raw_from(path))[1:]
    for stamp in stamps:
        assert stamp.stamp_xy is not None and stamp.provenance.sky is not None
        expected = pixel_to_sky(wcs, *stamp.stamp_xy)
        assert expected is not None
        assert stamp.provenance.sky.separation_arcsec(expected) < 1e-6
        assert stamp.provenance.pixel_scale_arcsec is not None
    # Stamps spread over the plate (~15 arcmin), not all at the centre.
    seps = [stamps[0].provenance.sky.separation_arcsec(s.provenance.sky) for s in stamps[1:]]
    assert max(seps) > 120


def test_frame_without_wcs_gives_stamps_without_sky(
    decoder: ImageDecoder, shared_data: Path
) -> None:
    stamps = decoder.decode(raw_from(shared_data / "fits" / "M51.fits"))[1:]
    assert stamps and all(s.provenance.sky is None for s in stamps)


def test_pictures_are_kept_whole(decoder: ImageDecoder, shared_data: Path) -> None:
    decoded = decoder.decode(raw_from(shared_data / "fits" / "ngc6976.jpeg", ImageGroup.PICTURE))
    assert len(decoded) == 1 and decoded[0].group is ImageGroup.PICTURE


def test_cutout_sized_images_are_not_frames(decoder: ImageDecoder, shared_data: Path) -> None:
    big_gz = next(p for p in (shared_data / "bench" / "gz").rglob("*.jpg") if p.stat().st_size > 0)
    assert len(decoder.decode(raw_from(big_gz))) == 1


def test_decoding_in_parallel_threads_matches_serial(
    decoder: ImageDecoder, shared_data: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    raws = [raw_from(shared_data / "fits" / n) for n in ("astride_long.fits", "M51.fits")] * 2
    serial = [[d.content_hash for d in decoder.decode(r)] for r in raws]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda r: [d.content_hash for d in decoder.decode(r)], raws))
    assert parallel == serial
