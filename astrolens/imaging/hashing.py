"""Content and perceptual hashes of decoded images."""

from __future__ import annotations

import hashlib

import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image

from astrolens.domain.display import to_uint8
from astrolens.domain.images import FloatImage

_HASH_WORKING_SIDE = 128


def bytes_hash(*parts: bytes) -> str:
    """sha256 of the raw file bytes: the identity of a whole file (or a triplet's files)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def pixels_hash(pixels: FloatImage) -> str:
    """sha256 of a stamp's pixels (with its shape, so a reshaped buffer never collides)."""
    arr = np.ascontiguousarray(pixels, dtype=np.float32)
    digest = hashlib.sha256(repr(arr.shape).encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


def perceptual_hash(pixels: FloatImage | npt.NDArray[np.uint8]) -> str:
    """imagehash pHash (64 bit, hex) of the 8-bit preview: survives re-encoding and resizing.

    pHash looks at a 32x32 grey thumbnail, so larger images are first box-averaged to a fixed
    128x128: half the cost of pHash's Lanczos on a 424 px cutout, and a fixed size (not an
    integer reduction factor) keeps re-encodes at other sizes within 2 bits on the bench.
    """
    u8 = pixels if pixels.dtype == np.uint8 else to_uint8(pixels)  # type: ignore[arg-type]
    image = Image.fromarray(np.ascontiguousarray(u8)).convert("L")
    if min(image.size) > _HASH_WORKING_SIDE:
        side = _HASH_WORKING_SIDE
        image = image.resize((side, side), Image.Resampling.BOX)
    return str(imagehash.phash(image))
