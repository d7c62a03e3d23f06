"""The thumbnail PNG encoder: any reader gets the exact pixels back."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from astrolens.fileio.png import encode_png


@pytest.mark.parametrize("shape", [(1, 1), (1, 7, 3), (5, 1), (37, 53), (64, 48, 3), (256, 256, 3)])
def test_pillow_reads_back_every_pixel(shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png(pixels))) as image:
        image.load()
        assert image.format == "PNG"
        assert image.mode == ("RGB" if len(shape) == 3 else "L")
        assert np.array_equal(np.asarray(image), pixels)


def test_rows_that_wrap_around_below_zero_survive() -> None:
    # The Up filter subtracts modulo 256: a dark row under a bright one must not saturate.
    pixels = np.array([[255, 0, 128], [0, 255, 127], [1, 1, 1]], dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png(pixels))) as image:
        assert np.asarray(image).tolist() == pixels.tolist()


def test_a_view_with_strides_is_encoded_as_its_pixels() -> None:
    base = np.arange(20 * 30 * 3, dtype=np.uint32).reshape(20, 30, 3).astype(np.uint8)
    view = base[::2, ::3]  # not contiguous
    with Image.open(io.BytesIO(encode_png(view))) as image:
        assert np.array_equal(np.asarray(image), view)


def test_every_chunk_checksum_is_right() -> None:
    data = encode_png(np.zeros((4, 4), np.uint8))
    position, tags = 8, []
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        tag = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        crc = int.from_bytes(data[position + 8 + length : position + 12 + length], "big")
        assert crc == zlib.crc32(tag + body)
        tags.append(tag)
        position += 12 + length
    assert tags == [b"IHDR", b"IDAT", b"IEND"]


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((4, 4), np.float32),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((0, 4), np.uint8),
    ],
)
def test_what_it_cannot_encode_is_refused(pixels: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode_png(pixels)
