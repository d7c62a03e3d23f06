"""One stored image, whatever its kind, as an 8-bit PNG for people (the API, the annotator).

Stored kinds: the original bytes (JPEG, PNG, TIFF, FITS, gzipped FITS) or, for stamps and
frames that came without a file, float pixels in [0, 1] as .npy. Blocking: run it in an
executor. Kept to one function (plus helpers) so it can merge with the window's
`display_image` rendering into a single code path.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt

from astrolens.domain.errors import UnreadableImageError

STRETCHES = ("auto", "asinh", "log", "linear", "zscale")
_MAX_PIXELS = 200_000_000
_MAX_INFLATED = 2_000_000_000


def _pixels(data: bytes, name: str, method: str) -> npt.NDArray[np.float32]:
    """Display pixels in [0, 1]. `auto`: 8-bit pictures and stored stamps as they are,
    scientific data (FITS, 16-bit) with asinh."""
    from astrolens.imaging.fits_reader import inflate_gzip, read_fits
    from astrolens.imaging.raster import read_raster
    from astrolens.imaging.sniff import ImageFormat, sniff
    from astrolens.imaging.stretch import scale_photographic, stretch

    if data.startswith(b"\x93NUMPY"):
        arr = np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)
        return arr if method == "auto" else stretch(arr, method)
    fmt = sniff(data, name)
    if fmt is ImageFormat.GZIP:
        data, fmt = inflate_gzip(data, name, _MAX_INFLATED), ImageFormat.FITS
    if fmt is ImageFormat.FITS:
        fits = read_fits(data, name, _MAX_PIXELS).data
        flipped = np.ascontiguousarray(fits[::-1])  # FITS row 0 is the bottom: north up
        per_channel = flipped.ndim == 3  # planes of a cube are different bands
        return stretch(flipped, "asinh" if method == "auto" else method, per_channel=per_channel)
    raster = read_raster(data, fmt, name, _MAX_PIXELS)
    if raster.photographic and method == "auto":
        return scale_photographic(raster.data)  # type: ignore[arg-type]
    return stretch(raster.data, "asinh" if method == "auto" else method)  # type: ignore[arg-type]


def render_png(path: Path, stretch: str = "auto", max_px: int | None = None) -> bytes:
    """PNG bytes of the stored image at `path`; UnreadableImageError if it cannot be shown."""
    from PIL import Image

    from astrolens.imaging.stretch import to_uint8

    if stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}; one of {', '.join(STRETCHES)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableImageError(f"{path.name}: cannot read the stored image ({exc})") from exc
    pixels = np.nan_to_num(_pixels(data, path.name, stretch), nan=0.0, posinf=1.0, neginf=0.0)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    elif pixels.ndim == 3 and pixels.shape[2] > 3:
        pixels = pixels[:, :, :3]
    image = Image.fromarray(to_uint8(np.clip(pixels, 0.0, 1.0)))
    if max_px is not None:
        image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
