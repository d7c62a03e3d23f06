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


def read_raster(data: bytes, fmt: ImageFormat, name: str, max_pixels: int) -> RasterData:
    if fmt is ImageFormat.TIFF:
        arr = _read_tiff(data, name, max_pixels)
        if arr is not None:
            return _normalise(arr, name)
    return _normalise(_read_pillow(data, name, max_pixels), name)


def _read_pillow(data: bytes, name: str, max_pixels: int) -> npt.NDArray[np.generic]:
    try:
        image = Image.open(io.BytesIO(data))
        _check_size(image.size[0] * image.size[1], name, max_pixels)
        image.load()
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
    return np.asarray(image)


def _read_tiff(data: bytes, name: str, max_pixels: int) -> npt.NDArray[np.generic] | None:
    """tifffile's reading, or None to let Pillow try (e.g. a codec tifffile lacks)."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            shape = page.shape
            _check_size(int(np.prod(shape[:2])), name, max_pixels)
            arr = page.asarray()
    except UnreadableImageError:
        raise
    except Exception:
        return None
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar configuration
    return np.asarray(arr)


def _normalise(arr: npt.NDArray[np.generic], name: str) -> RasterData:
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
    return RasterData(data=arr, photographic=photographic, bit_depth=depth)


def _check_size(pixels: int, name: str, max_pixels: int) -> None:
    if pixels > max_pixels:
        raise UnreadableImageError(
            f"{name}: refused, {pixels:,} pixels exceeds the limit of {max_pixels:,} "
            "(possible decompression bomb)"
        )
