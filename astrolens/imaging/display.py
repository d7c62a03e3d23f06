"""Stored image files to display pixels (`DisplayImage`), for every kind the store keeps.

The store keeps an image's original bytes (JPEG, PNG, TIFF, FITS, gzipped FITS) or, for what
came without a file of its own (stamps cut from a frame, ZTF triplets), its float pixels as a
.npy array in [0, 1]. One reader here serves every view, so a kind the store can hold is a kind
every view can show. Blocking (file reads, FITS parsing): call it from an executor.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.visualization import ZScaleInterval

from astrolens.domain.display import DisplayImage, DisplayLimits, DisplayStretch
from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.images import FloatImage
from astrolens.imaging.fits_reader import inflate_gzip, read_fits
from astrolens.imaging.raster import read_raster
from astrolens.imaging.sniff import ImageFormat, sniff

_MAX_PIXELS = 200_000_000  # the decoder's own limit: what could be stored can be shown
_MAX_INFLATED = 2 << 30
_SAMPLE_PIXELS = 250_000  # limits from a regular subsample: same to display precision
_NPY_MAGIC = b"\x93NUMPY"

_KIND_TEXT = {
    ImageFormat.JPEG: "JPEG picture",
    ImageFormat.PNG: "PNG picture",
    ImageFormat.TIFF: "TIFF image",
    ImageFormat.FITS: "FITS image",
}


@dataclass(frozen=True, slots=True)
class StoredPixels:
    """A stored file's pixels, top row first (FITS flipped), before any display stretch."""

    data: npt.NDArray[np.float32]
    kind: str
    # 8-bit pictures and the stored [0, 1] stamps were stretched by whoever made them: they are
    # shown as they are. Linear data (FITS, 16-bit) needs a stretch to show anything.
    display_ready: bool
    per_channel: bool = False  # FITS colour planes are different bands: limits per plane


def read_stored(path: Path) -> StoredPixels:
    """The pixels of a stored image file; UnreadableImageError saying why not."""
    name = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise UnreadableImageError(f"{name}: the stored file is missing") from exc
    except OSError as exc:
        raise UnreadableImageError(f"{name}: cannot read the stored file ({exc})") from exc
    if data.startswith(_NPY_MAGIC):
        return StoredPixels(_read_npy(data, name), "stamp cut from a frame", display_ready=True)
    fmt = sniff(data, name)
    if fmt is ImageFormat.GZIP:
        data = inflate_gzip(data, name, _MAX_INFLATED)
        fmt = sniff(data, name)
    if fmt is ImageFormat.FITS:
        fits = read_fits(data, name, _MAX_PIXELS)
        pixels = np.ascontiguousarray(fits.data[::-1])  # FITS row 0 is the bottom: north up
        return StoredPixels(
            pixels, _KIND_TEXT[fmt], display_ready=False, per_channel=pixels.ndim == 3
        )
    raster = read_raster(data, fmt, name, _MAX_PIXELS)
    pixels = np.asarray(raster.data, dtype=np.float32)
    if raster.photographic:
        pixels = pixels / np.float32(255.0)
    return StoredPixels(pixels, _KIND_TEXT[fmt], display_ready=raster.photographic)


def _read_npy(data: bytes, name: str) -> npt.NDArray[np.float32]:
    import io

    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UnreadableImageError(f"{name}: broken stored pixel array ({exc})") from exc
    arr = np.squeeze(np.asarray(arr, dtype=np.float32))
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or min(arr.shape[:2]) < 2:
        raise UnreadableImageError(f"{name}: stored pixels have an unusable shape {arr.shape}")
    return np.ascontiguousarray(arr)


def load_stored_pixels(path: Path) -> FloatImage:
    """[0, 1] pixels of a stored .npy array (what the decoder produced for a stamp)."""
    return _read_npy(path.read_bytes(), path.name)


def default_display(stored: StoredPixels) -> tuple[DisplayStretch, DisplayLimits]:
    """Raw data needs zscale + asinh to show faint structure; a display-ready image starts as
    it is, so what the user sees first is what its maker meant."""
    if stored.display_ready:
        return DisplayStretch.LINEAR, DisplayLimits.MINMAX
    return DisplayStretch.ASINH, DisplayLimits.ZSCALE


def display_limits(data: npt.NDArray[np.float32], limits: DisplayLimits) -> tuple[float, float]:
    flat = data.reshape(-1)
    if flat.size > _SAMPLE_PIXELS:
        flat = flat[:: flat.size // _SAMPLE_PIXELS + 1]
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        return 0.0, 1.0
    if limits is DisplayLimits.ZSCALE:
        lo, hi = ZScaleInterval().get_limits(finite)
    elif limits is DisplayLimits.PERCENTILE:
        lo, hi = np.percentile(finite, [0.5, 99.5])
    else:
        lo, hi = finite.min(), finite.max()
    return float(lo), float(hi)


def apply_stretch(
    data: npt.ArrayLike,
    stretch: DisplayStretch,
    limits: DisplayLimits,
    *,
    per_channel: bool = False,
    log_a: float = 1000.0,
    asinh_beta: float = 0.1,
) -> npt.NDArray[np.uint8]:
    """Pixels (HxW or HxWx3) to display bytes of the same shape.

    Colour shares one set of limits over all channels so colours keep their ratios, except for
    planes of different bands (`per_channel`). NaN shows as the low limit (the sky floor).
    """
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim == 3 and per_channel:
        planes = [apply_stretch(arr[..., c], stretch, limits) for c in range(arr.shape[2])]
        return np.ascontiguousarray(np.stack(planes, axis=-1))
    lo, hi = display_limits(arr, limits)
    span = hi - lo if hi > lo else 1.0
    x = np.clip((np.nan_to_num(arr, nan=lo, posinf=hi, neginf=lo) - lo) / span, 0.0, 1.0)
    if stretch is DisplayStretch.LOG:
        x = np.log1p(log_a * x) / np.log1p(log_a)
    elif stretch is DisplayStretch.ASINH:
        x = np.arcsinh(x / asinh_beta) / np.arcsinh(1.0 / asinh_beta)
    return np.ascontiguousarray(np.round(x * 255.0), dtype=np.uint8)


def _shrink(pixels: npt.NDArray[np.uint8], max_side: int) -> npt.NDArray[np.uint8]:
    from PIL import Image

    rows, cols = pixels.shape[:2]
    if max_side <= 0 or max(rows, cols) <= max_side:
        return pixels
    image = Image.fromarray(pixels)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


class DisplayRenderer:
    """Renders stored files, keeping the last few decoded files so that changing the stretch
    of the image on screen does not read and parse the file again. Thread-safe."""

    def __init__(self, cache_size: int = 4, cache_bytes: int = 256 << 20) -> None:
        self._cache: OrderedDict[tuple[str, int, int], StoredPixels] = OrderedDict()
        self._cache_size = cache_size
        # A plate scan decodes to hundreds of MB of float32: the cache is bounded by bytes too,
        # and one larger than the whole budget is not kept at all.
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()

    def cached_bytes(self) -> int:
        with self._lock:
            return sum(item.data.nbytes for item in self._cache.values())

    def _stored(self, path: Path) -> StoredPixels:
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise UnreadableImageError(f"{path.name}: the stored file is missing") from exc
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        stored = read_stored(path)
        if stored.data.nbytes > self._cache_bytes:
            return stored
        with self._lock:
            self._cache[key] = stored
            total = sum(item.data.nbytes for item in self._cache.values())
            while len(self._cache) > self._cache_size or total > self._cache_bytes:
                _key, dropped = self._cache.popitem(last=False)
                total -= dropped.data.nbytes
        return stored

    def render(
        self,
        path: Path,
        stretch: DisplayStretch | None = None,
        limits: DisplayLimits | None = None,
        max_side: int = 0,
    ) -> DisplayImage:
        """`stretch`/`limits` None: the default for the file's kind. `max_side` > 0 shrinks
        (thumbnails); 0 keeps every pixel (the zoomable viewer)."""
        stored = self._stored(path) if max_side <= 0 else read_stored(path)
        default_stretch, default_limits = default_display(stored)
        stretch = stretch or default_stretch
        limits = limits or default_limits
        pixels = apply_stretch(stored.data, stretch, limits, per_channel=stored.per_channel)
        rows, cols = stored.data.shape[:2]
        return DisplayImage(
            pixels=_shrink(pixels, max_side),
            stretch=stretch,
            limits=limits,
            kind=stored.kind,
            name=path.name,
            source_width=int(cols),
            source_height=int(rows),
        )


def png_bytes(shown: DisplayImage) -> bytes:
    """The display pixels as a PNG file (the API, the LLM annotator)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(shown.pixels).save(out, format="PNG")
    return out.getvalue()
