"""Image decoding for display, off the GUI thread.

Decoding a JPEG or a FITS frame takes milliseconds to seconds; under qasync the loop is the
GUI thread, so every decode goes through this module's small thread pool. QImage (unlike
QPixmap) may be created in any thread.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

from astrolens.ui.stretch import Limits, StretchParams, apply_stretch

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.fz", ".fits.gz", ".fz")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(2, thread_name_prefix="astrolens-ui-image")
        return _pool


def shutdown() -> None:
    """Join the decode threads (at quit, so no thread outlives the app)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


async def run_blocking(fn, *args):  # type: ignore[no-untyped-def]
    return await asyncio.get_running_loop().run_in_executor(executor(), fn, *args)


def is_fits(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in _FITS_SUFFIXES)


def read_pixels(path: Path) -> npt.NDArray[np.float32]:
    """Raw pixel values (HxW or HxWx3 float32), not yet stretched. Blocking."""
    if is_fits(path):
        # astropy only when a FITS file is opened: it is not needed to show the tray.
        from astropy.io import fits

        with fits.open(path, memmap=False) as hdul:
            for hdu in hdul:
                if hdu.data is not None and getattr(hdu.data, "ndim", 0) >= 2:
                    data = np.asarray(hdu.data, dtype=np.float32)
                    while data.ndim > 2:
                        data = data[0]
                    # FITS rows run bottom-up; screens run top-down.
                    return np.ascontiguousarray(data[::-1])
        raise ValueError(f"{path.name}: no image HDU")
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        if img.mode in ("I", "I;16", "F"):
            return np.asarray(img, dtype=np.float32)
        return np.asarray(img.convert("RGB"), dtype=np.float32)


def to_qimage(pixels: npt.NDArray[np.uint8]) -> QImage:
    """uint8 HxW or HxWx3 to a QImage that owns its bytes."""
    pixels = np.ascontiguousarray(pixels)
    h, w = pixels.shape[:2]
    if pixels.ndim == 2:
        img = QImage(pixels.data, w, h, pixels.strides[0], QImage.Format.Format_Grayscale8)
    else:
        img = QImage(pixels.data, w, h, pixels.strides[0], QImage.Format.Format_RGB888)
    return img.copy()  # detach from the numpy buffer


def stretched_image(pixels: npt.NDArray[np.float32], params: StretchParams) -> QImage:
    return to_qimage(apply_stretch(pixels, params))


def load_thumbnail(path: Path, size: int) -> QImage:
    """A thumbnail no bigger than size x size. Blocking. A null QImage if unreadable."""
    if is_fits(path):
        try:
            img = stretched_image(read_pixels(path), StretchParams(limits=Limits.ZSCALE))
        except (OSError, ValueError):
            return QImage()
    else:
        img = QImage(str(path))
    if img.isNull():
        return img
    return img.scaled(
        size,
        size,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
