"""JPEG, PNG and TIFF bytes to numpy arrays.

Pillow reads JPEG and PNG (8 and 16 bit). TIFF goes through tifffile first because Pillow opens
a 48-bit RGB TIFF as 8-bit RGB without a word, which would silently throw away the dynamic
range of exactly the files (astrophotography stacks) that need it; tifffile comes with
scikit-image, which we already depend on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from astrolens.domain.errors import UnreadableImageError
from astrolens.imaging import quiet  # noqa: F401  (warning filters, before any decode thread)
from astrolens.imaging.sniff import ImageFormat


@dataclass(frozen=True, slots=True)
class RasterData:
    """Pixels as stored (HxW or HxWx3) and whether they are display-ready 8-bit values."""

    data: npt.NDArray[np.generic]
    photographic: bool  # 8-bit: already stretched for display, only rescale to [0, 1]
    bit_depth: int
    reduced_by: int = 1  # each side was divided by this while reading


# Bytes per sample of a Pillow mode, and its band count once converted for us.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I": 4, "F": 4}


def read_raster(
    data: bytes,
    fmt: ImageFormat,
    name: str,
    max_pixels: int,
    *,
    max_decoded_bytes: int | None = None,
    max_working_pixels: int | None = None,
) -> RasterData:
    if fmt is ImageFormat.TIFF:
        arr = _read_tiff(data, name, max_pixels, max_decoded_bytes)
        if arr is not None:
            pixels = arr.shape[0] * arr.shape[1] if arr.ndim in (2, 3) else 0
            factor = _reduction(pixels, max_working_pixels)
            return _normalise(_block_reduce(arr, factor), name, factor)
    image, factor = _read_pillow(data, name, max_pixels, max_decoded_bytes, max_working_pixels)
    return _normalise(image, name, factor)


def _reduction(pixels: int, max_working_pixels: int | None) -> int:
    """The smallest integer factor per side that brings `pixels` within the working size."""
    if max_working_pixels is None or pixels <= max_working_pixels:
        return 1
    return int(np.ceil(np.sqrt(pixels / max_working_pixels)))


def _check_bytes(needed: int, name: str, max_decoded_bytes: int | None) -> None:
    if max_decoded_bytes is not None and needed > max_decoded_bytes:
        raise UnreadableImageError(
            f"{name}: refused, decoding needs {needed:,} bytes, more than the "
            f"{max_decoded_bytes:,} byte limit (possible decompression bomb)"
        )


def _read_pillow(
    data: bytes,
    name: str,
    max_pixels: int,
    max_decoded_bytes: int | None,
    max_working_pixels: int | None,
) -> tuple[npt.NDArray[np.generic], int]:
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        _check_size(width * height, name, max_pixels)
        bands = len(image.getbands())
        _check_bytes(
            width * height * bands * _MODE_BYTES.get(image.mode, 1), name, max_decoded_bytes
        )
        factor = _reduction(width * height, max_working_pixels)
        if factor > 1 and image.format == "JPEG":
            # JPEG decodes at 1/2, 1/4 or 1/8 scale directly: the full frame never exists.
            image.draft(image.mode, (width // factor, height // factor))
        image.load()
        if factor > 1:
            exact = _reduction(image.size[0] * image.size[1], max_working_pixels)
            if exact > 1:
                image = image.reduce(exact)
            factor = max(1, round(width / image.size[0]))
    except Image.DecompressionBombError as exc:
        raise UnreadableImageError(f"{name}: refused, decompression bomb ({exc})") from exc
    except UnreadableImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImageError(f"{name}: corrupt or truncated image ({exc})") from exc
    mode = image.mode
    if mode in ("RGBA", "LA", "PA"):
        # Alpha in survey cutouts marks missing data; the sky behind it is black.
        image = image.convert("RGB" if mode != "LA" else "L")
    elif mode == "P":
        image = image.convert("RGB")
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("L" if mode == "1" else "RGB")
    return np.asarray(image), factor


def _read_tiff(
    data: bytes, name: str, max_pixels: int, max_decoded_bytes: int | None
) -> npt.NDArray[np.generic] | None:
    """tifffile's reading, or None to let Pillow try (e.g. a codec tifffile lacks)."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            shape = page.shape
            _check_size(int(np.prod(shape[:2])), name, max_pixels)
            _check_bytes(int(np.prod(shape)) * page.dtype.itemsize, name, max_decoded_bytes)
            arr = page.asarray()
    except UnreadableImageError:
        raise
    except Exception:
        return None
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar configuration
    return np.asarray(arr)


def _block_reduce(arr: npt.NDArray[np.generic], factor: int) -> npt.NDArray[np.generic]:
    """Mean of factor x factor blocks, kept in the array's own dtype (no full float copy)."""
    if factor <= 1 or arr.ndim not in (2, 3):
        return arr
    rows, cols = arr.shape[0] // factor, arr.shape[1] // factor
    if rows < 2 or cols < 2:
        return arr
    out = np.empty((rows, cols, *arr.shape[2:]), dtype=arr.dtype)
    for r in range(rows):  # one band of rows at a time: the float temporary stays small
        band = arr[r * factor : (r + 1) * factor, : cols * factor]
        blocks = band.reshape(factor, cols, factor, *arr.shape[2:])
        out[r] = blocks.mean(axis=(0, 2), dtype=np.float32).astype(arr.dtype, copy=False)
    return out


def _normalise(arr: npt.NDArray[np.generic], name: str, reduced_by: int = 1) -> RasterData:
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    elif (arr.ndim == 3 and arr.shape[2] == 2) or (arr.ndim == 3 and arr.shape[2] == 1):
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise UnreadableImageError(f"{name}: unsupported pixel layout {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise UnreadableImageError(f"{name}: image is too small ({arr.shape[1]}x{arr.shape[0]})")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    depth = arr.dtype.itemsize * 8
    photographic = arr.dtype == np.uint8
    return RasterData(data=arr, photographic=photographic, bit_depth=depth, reduced_by=reduced_by)


def _check_size(pixels: int, name: str, max_pixels: int) -> None:
    if pixels > max_pixels:
        raise UnreadableImageError(
            f"{name}: refused, {pixels:,} pixels exceeds the limit of {max_pixels:,} "
            "(possible decompression bomb)"
        )
