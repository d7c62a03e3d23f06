"""Resize float images (HxW or HxWx3) with Pillow's antialiasing filters."""

from __future__ import annotations

import numpy as np
from PIL import Image

from astrolens.domain.images import FloatImage


def resize(pixels: FloatImage, width: int, height: int) -> FloatImage:
    """Resize with an area-aware filter (Pillow's bilinear widens its support on downscaling)."""
    if pixels.shape[1] == width and pixels.shape[0] == height:
        return pixels
    planes = [pixels] if pixels.ndim == 2 else [pixels[..., c] for c in range(pixels.shape[2])]
    out = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(p, dtype=np.float32)).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for p in planes
    ]
    result = out[0] if pixels.ndim == 2 else np.stack(out, axis=-1)
    return np.clip(result, 0.0, 1.0).astype(np.float32, copy=False)


def fit_within(pixels: FloatImage, max_side: int) -> tuple[FloatImage, float]:
    """Downsample so the longer side is at most `max_side`; returns (image, scale factor >= 1)."""
    rows, cols = pixels.shape[0], pixels.shape[1]
    longest = max(rows, cols)
    if longest <= max_side:
        return pixels, 1.0
    factor = longest / max_side
    width, height = max(1, round(cols / factor)), max(1, round(rows / factor))
    return resize(pixels, width, height), factor
