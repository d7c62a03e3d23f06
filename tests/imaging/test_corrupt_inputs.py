"""Anything that is not a readable image ends in UnreadableImageError with one clear line."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from astrolens.domain.errors import UnreadableImageError
from astrolens.imaging import DecoderConfig, ImageDecoder
from tests.imaging.helpers import raw_bytes


def _fails(decoder: ImageDecoder, data: bytes, name: str, match: str) -> str:
    with pytest.raises(UnreadableImageError, match=match) as info:
        decoder.decode(raw_bytes(data, name))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_zero_bytes(decoder: ImageDecoder) -> None:
    _fails(decoder, b"", "empty.jpg", "empty file")


def test_html_page_saved_as_jpg(decoder: ImageDecoder) -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head></html>"
    _fails(decoder, page, "cutout.jpg", "HTML page")
    _fails(decoder, b"\n  <html><body>Not found</body></html>", "x.fits", "HTML page")


def test_random_bytes(decoder: ImageDecoder) -> None:
    _fails(decoder, os.urandom(4096), "noise.png", "not a JPEG, PNG, TIFF or FITS")


def test_truncated_fits(decoder: ImageDecoder, shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "fits" / "M51.fits").read_bytes()
    copy = tmp_path / "M51.fits"
    copy.write_bytes(data[: len(data) // 2])
    _fails(decoder, copy.read_bytes(), copy.name, "broken FITS")
    _fails(decoder, data[:2880], copy.name, "broken FITS")


def test_truncated_jpeg(decoder: ImageDecoder, shared_data: Path) -> None:
    data = (shared_data / "fits" / "ngc6976.jpeg").read_bytes()
    _fails(decoder, data[: len(data) // 3], "ngc6976.jpeg", "corrupt or truncated")


def test_broken_fits_header(decoder: ImageDecoder) -> None:
    junk = b"SIMPLE  =                    T" + b"\x00\xff" * 2000
    _fails(decoder, junk, "junk.fits", "broken FITS")


def test_fits_with_only_a_table(decoder: ImageDecoder) -> None:
    from astropy.io import fits
    from astropy.table import Table

    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(Table({"a": [1, 2]}))]).writeto(buffer)
    _fails(decoder, buffer.getvalue(), "table.fits", "no image data")


def test_all_nan_fits(decoder: ImageDecoder) -> None:
    from astropy.io import fits

    buffer = io.BytesIO()
    fits.PrimaryHDU(np.full((20, 20), np.nan, dtype=np.float32)).writeto(buffer)
    _fails(decoder, buffer.getvalue(), "nan.fits", "NaN")


def test_gzip_that_is_not_fits(decoder: ImageDecoder) -> None:
    _fails(decoder, gzip.compress(b"hello world" * 100), "x.fits.gz", "does not hold a FITS")


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"SIMPLE  =                    T" + b"\x00" * 5_000_000)
    small = ImageDecoder(DecoderConfig(max_inflated_bytes=1_000_000))
    _fails(small, bomb, "bomb.fits.gz", "decompression bomb")


def test_pixel_bomb_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (4000, 3000)).save(buffer, format="PNG")  # 12 MP in a few kB
    small = ImageDecoder(DecoderConfig(max_pixels=1_000_000))
    _fails(small, buffer.getvalue(), "bomb.png", "decompression bomb")
