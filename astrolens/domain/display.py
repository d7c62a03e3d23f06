"""What a person sees of a stored image: 8-bit display pixels and how they were made.

The UI asks the agent for these instead of opening files itself, so every stored kind (a FITS
frame, a JPEG cutout, the float stamps kept as .npy) is read by one reader in the app layer, and
a view can never fall behind what the store holds. Display only: the scorer never sees them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def to_uint8(pixels: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """[0, 1] floats to 0..255 for previews, thumbnails and perceptual hashes: NaN and -inf
    to 0, +inf to 255. One scaled copy, clipped in place: fmax and fmin return the number
    when one side is NaN, so they clip and clear NaN in the same pass (nan_to_num, clip and
    their temporaries were 40 % of a thumbnail)."""
    scaled: npt.NDArray[np.float32] = np.multiply(pixels, np.float32(255.0), dtype=np.float32)
    scaled += np.float32(0.5)
    np.fmax(scaled, np.float32(0.0), out=scaled)
    np.fmin(scaled, np.float32(255.0), out=scaled)
    return scaled.astype(np.uint8)


class DisplayStretch(enum.StrEnum):
    LINEAR = "linear"
    LOG = "log"
    ASINH = "asinh"


class DisplayLimits(enum.StrEnum):
    MINMAX = "minmax"
    PERCENTILE = "99.5%"
    ZSCALE = "zscale"


@dataclass(frozen=True, slots=True)
class DisplayImage:
    """HxW (grey) or HxWx3 (RGB) uint8 pixels, top row first, ready to paint."""

    pixels: npt.NDArray[np.uint8]
    stretch: DisplayStretch
    limits: DisplayLimits
    kind: str  # in words: "FITS image", "JPEG picture", "stamp cut from a frame"
    name: str  # the stored file's name
    source_width: int  # the stored data's size, before any shrinking for a thumbnail
    source_height: int

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def colour(self) -> bool:
        return self.pixels.ndim == 3

    def describe(self) -> str:
        tone = "colour" if self.colour else "grey"
        return (
            f"{self.kind} · {self.source_width}×{self.source_height} {tone} · "
            f"{self.stretch.value} stretch, {self.limits.value} limits"
        )


# The stretches a script names (the API's `?stretch=`): "auto" is the default for the file's
# kind; "zscale" is a linear stretch between IRAF's zscale limits.
NAMED_STRETCHES: dict[str, tuple[DisplayStretch | None, DisplayLimits | None]] = {
    "auto": (None, None),
    "asinh": (DisplayStretch.ASINH, None),
    "log": (DisplayStretch.LOG, None),
    "linear": (DisplayStretch.LINEAR, None),
    "zscale": (DisplayStretch.LINEAR, DisplayLimits.ZSCALE),
}
