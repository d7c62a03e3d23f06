"""Big frames to per-object stamps: detect sources with sep, cut a square around each.

A CCD frame or plate scan holds dozens of objects; embedding it as one thumbnail would hide
every one of them. Each detection becomes a stamp sized to the object, so a small galaxy and a
satellite streak are both seen at a scale where their shape shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import sep

from astrolens.domain.images import FloatImage

# sep's pixel stack is process-global C state: set once here, never per call, because decoders
# run in several executor threads at a time. 1 M pixels covers a 4k frame's detections.
sep.set_extract_pixstack(1_000_000)


@dataclass(frozen=True, slots=True)
class StampConfig:
    threshold_sigma: float = 3.0  # detection threshold in units of the background RMS
    min_area: int = 10  # pixels above threshold; smaller blobs are noise or hot pixels
    deblend_cont: float = 0.005  # SExtractor's default: split touching objects
    max_stamps: int = 64  # the brightest objects win
    size_factor: float = 12.0  # stamp side = size_factor x semi-major axis (~2x the isophote)
    min_side: int = 32
    max_side: int = 512
    output_max_side: int = 256  # larger stamps are resampled down to this


@dataclass(frozen=True, slots=True)
class Detection:
    """One source in frame pixel coordinates (0-based x = column, y = row of the array)."""

    x: float
    y: float
    a: float
    b: float
    theta: float
    flux: float
    npix: int

    def stamp_side(self, config: StampConfig) -> int:
        side = math.ceil(config.size_factor * self.a)
        return int(min(config.max_side, max(config.min_side, side)))


def detection_plane(data: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A 2-D, NaN-free, C-contiguous float32 plane for sep (the channel mean for colour)."""
    plane = data.mean(axis=2, dtype=np.float32) if data.ndim == 3 else data
    plane = np.array(plane, dtype=np.float32, order="C", copy=True)
    bad = ~np.isfinite(plane)
    if bad.any():
        plane[bad] = float(np.median(plane[~bad]))
    return plane


def detect_sources(plane: npt.NDArray[np.float32], config: StampConfig) -> list[Detection]:
    """Background-subtracted extraction, edge and tiny objects dropped, brightest first."""
    background = sep.Background(plane)
    residual = plane - background.back()
    rms = float(background.globalrms)
    if not math.isfinite(rms) or rms <= 0:
        return []  # a flat or synthetic image with no noise: nothing to detect against
    objects = _extract(residual, rms, config)
    if objects is None:
        return []
    rows, cols = plane.shape
    keep = (
        (objects["xmin"] > 0)
        & (objects["ymin"] > 0)
        & (objects["xmax"] < cols - 1)
        & (objects["ymax"] < rows - 1)
        & (objects["npix"] >= config.min_area)
        & (objects["a"] >= 1.0)
        & np.isfinite(objects["flux"])
        & (objects["flux"] > 0)
    )
    objects = objects[keep]
    objects = objects[np.argsort(objects["flux"])[::-1][: config.max_stamps]]
    return [
        Detection(
            x=float(o["x"]),
            y=float(o["y"]),
            a=float(o["a"]),
            b=float(o["b"]),
            theta=float(o["theta"]),
            flux=float(o["flux"]),
            npix=int(o["npix"]),
        )
        for o in objects
    ]


def _extract(
    residual: npt.NDArray[np.float32], rms: float, config: StampConfig
) -> np.ndarray | None:
    # Crowded fields overflow sep's pixel stack; a higher threshold finds the bright objects,
    # which are the ones we keep anyway.
    threshold = config.threshold_sigma
    for _ in range(4):
        try:
            return sep.extract(
                residual,
                threshold,
                err=rms,
                minarea=config.min_area,
                deblend_cont=config.deblend_cont,
            )
        except Exception as exc:  # sep raises plain Exception on buffer overflows
            if "overflow" not in str(exc) and "full" not in str(exc):
                raise
            threshold *= 2.0
    return None


def cut_square(image: FloatImage, x: float, y: float, side: int, fill: float) -> FloatImage:
    """A side x side square centred on (x, y); parts outside the frame are filled with `fill`."""
    rows, cols = image.shape[0], image.shape[1]
    x0 = round(x) - side // 2
    y0 = round(y) - side // 2
    shape = (side, side, *image.shape[2:])
    out = np.full(shape, fill, dtype=np.float32)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(cols, x0 + side), min(rows, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out
