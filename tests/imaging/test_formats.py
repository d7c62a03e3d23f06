"""Every supported format decodes to float32 in [0, 1] with the right shape."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from astropy.io import fits
from PIL import Image

from astrolens.domain.images import DecodedImage, ImageGroup
from astrolens.imaging import ImageDecoder
from tests.imaging.helpers import raw_bytes, raw_from


def _single(decoded: list[DecodedImage]) -> DecodedImage:
    assert len(decoded) == 1
    image = decoded[0]
    assert image.pixels.dtype == np.float32
    assert float(image.pixels.min()) >= 0.0 and float(image.pixels.max()) <= 1.0
    assert np.isfinite(image.pixels).all()
    assert len(image.perceptual_hash) == 16
    return image


def test_bench_png_and_jpeg_are_only_rescaled(decoder: ImageDecoder, shared_data: Path) -> None:
    for path in (
        next((shared_data / "bench" / "hsc" / "test").glob("*.png")),
        next((shared_data / "bench" / "gz" / "test").glob("*.jpg")),
    ):
        image = _single(decoder.decode(raw_from(path)))
        original = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        assert image.pixels.shape == original.shape
        np.testing.assert_allclose(image.pixels, original, atol=1e-6)
        import hashlib

        assert image.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
        assert image.group is ImageGroup.SURVEY and image.parent_uri is None


def _encode_tiff(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, arr, photometric="rgb" if arr.ndim == 3 else "minisblack")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("dtype", "channels"),
    [(np.uint8, 1), (np.uint8, 3), (np.uint8, 4), (np.uint16, 1), (np.uint16, 3)],
)
def test_tiff_depths_and_channels(decoder: ImageDecoder, dtype: type, channels: int) -> None:
    rng = np.random.default_rng(1)
    top = np.iinfo(dtype).max
    shape = (60, 80) if channels == 1 else (60, 80, channels)
    arr = rng.integers(0, top, size=shape, dtype=dtype)
    image = _single(decoder.decode(raw_bytes(_encode_tiff(arr), "x.tif")))
    assert image.pixels.shape == ((60, 80) if channels == 1 else (60, 80, 3))
    if dtype is np.uint8:
        np.testing.assert_allclose(
            image.pixels, arr[..., :3] / 255.0 if channels > 1 else arr / 255.0, atol=1e-6
        )
    else:
        # 16-bit data is scientific: stretched, so it spans the range instead of being rescaled.
        assert image.pixels.max() > 0.95 and image.pixels.min() < 0.05


def test_16bit_png_keeps_its_dynamic_range(decoder: ImageDecoder) -> None:
    ramp = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (32, 1))  # only 12 of 16 bits used
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    image = _single(decoder.decode(raw_bytes(buffer.getvalue(), "ramp.png")))
    row = image.pixels[0]
    assert np.all(np.diff(row) >= 0)  # monotonic: stretch preserves order
    assert row[-1] > 0.95  # and uses the display range though the values are tiny in 16-bit


def test_rgba_png_drops_alpha(decoder: ImageDecoder) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(buffer, format="PNG")
    image = _single(decoder.decode(raw_bytes(buffer.getvalue(), "a.png")))
    assert image.pixels.shape == (30, 40, 3)
    assert image.pixels[..., 0].min() == 1.0


def _fits_bytes(hdus: list[fits.hdu.base._BaseHDU]) -> bytes:
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def _galaxy(size: int = 64) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    rng = np.random.default_rng(2)
    blob = 1000 * np.exp(-((x - size / 2) ** 2 + (y - size / 3) ** 2) / 30.0)
    return (blob + rng.normal(100, 5, (size, size))).astype(np.float32)


def test_fits_primary(decoder: ImageDecoder) -> None:
    data = _galaxy()
    image = _single(decoder.decode(raw_bytes(_fits_bytes([fits.PrimaryHDU(data)]), "g.fits")))
    # Flipped to display orientation: FITS row 0 is the bottom row of the picture.
    peak_row = int(np.argmax(image.pixels.max(axis=1)))
    assert abs(peak_row - (63 - 64 // 3)) <= 1


def test_multi_extension_fits_uses_first_image_hdu(decoder: ImageDecoder) -> None:
    data = _galaxy()
    blob = _fits_bytes(
        [fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI"), fits.ImageHDU(data * 0)]
    )
    image = _single(decoder.decode(raw_bytes(blob, "mef.fits")))
    assert image.pixels.max() == 1.0


def test_tile_compressed_fits_fz(decoder: ImageDecoder) -> None:
    data = _galaxy()
    blob = _fits_bytes([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="RICE_1")])
    image = _single(decoder.decode(raw_bytes(blob, "g.fits.fz")))
    plain = _single(decoder.decode(raw_bytes(_fits_bytes([fits.PrimaryHDU(data)]), "g.fits")))
    # RICE quantises floats, so compare the pictures, not the bits.
    assert np.abs(image.pixels - plain.pixels).mean() < 0.02


def test_gzip_fits_from_real_file(decoder: ImageDecoder, shared_data: Path) -> None:
    data = (shared_data / "demo" / "ztf__ZTF24aajbcje_science.fits").read_bytes()
    plain = _single(decoder.decode(raw_bytes(data, "s.fits")))
    zipped = _single(decoder.decode(raw_bytes(gzip.compress(data), "s.fits.gz")))
    np.testing.assert_array_equal(plain.pixels, zipped.pixels)


def test_three_plane_cube_becomes_rgb(decoder: ImageDecoder) -> None:
    cube = np.stack([_galaxy(), _galaxy() * 0.1, _galaxy() * 10])
    image = _single(decoder.decode(raw_bytes(_fits_bytes([fits.PrimaryHDU(cube)]), "c.fits")))
    assert image.pixels.shape == (64, 64, 3)
    # Planes are stretched separately: a 100x brighter band does not drown the others.
    assert all(image.pixels[..., c].max() > 0.9 for c in range(3))


def test_nans_are_handled(decoder: ImageDecoder) -> None:
    data = _galaxy()
    data[:10, :] = np.nan
    data[30, 30] = np.inf
    _single(decoder.decode(raw_bytes(_fits_bytes([fits.PrimaryHDU(data)]), "nan.fits")))


def test_magic_bytes_beat_the_suffix(decoder: ImageDecoder, shared_data: Path) -> None:
    fits_bytes = (shared_data / "demo" / "ztf__ZTF24aajbcje_science.fits").read_bytes()
    image = _single(decoder.decode(raw_bytes(fits_bytes, "mislabelled.jpg")))
    assert image.pixels.shape == (63, 63)


def test_small_real_fits_frames_decode(decoder: ImageDecoder, shared_data: Path) -> None:
    for path in sorted((shared_data / "fits").glob("*.fits")):
        decoded = decoder.decode(raw_from(path))
        assert decoded, path
