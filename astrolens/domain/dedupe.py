"""When two images are the same image.

Exact bytes always are. Otherwise a perceptual hash a few bits apart means "looks the same",
which alone is not enough: stamps of point sources all look alike. So a near-identical look
counts only when nothing says they are different objects: two stamps of one frame are
different objects (different pixels of the same file), and two images with sky positions must
lie within a few arcseconds of each other.
"""

from __future__ import annotations

from astrolens.domain.sky import SkyPosition

# Measured on 40 bench galaxies: re-encodes (JPEG quality 60-95, resized x0.5-1.1) differ by
# 0-2 bits; distinct galaxies by 12 bits at least (26 on average).
DEFAULT_MAX_DISTANCE = 4
SAME_POSITION_ARCSEC = 3.0


def hamming(a_hex: str, b_hex: str) -> int:
    """Bits that differ between two hex-encoded perceptual hashes of equal length."""
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hash lengths differ: {len(a_hex)} vs {len(b_hex)}")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def is_same_image(a_hex: str, b_hex: str, max_distance: int = DEFAULT_MAX_DISTANCE) -> bool:
    return hamming(a_hex, b_hex) <= max_distance


def could_be_same_object(
    a_sky: SkyPosition | None,
    b_sky: SkyPosition | None,
    a_parent: str | None,
    b_parent: str | None,
) -> bool:
    """Whether two look-alike images may be one object seen twice."""
    if a_parent is not None and a_parent == b_parent:
        return False  # two stamps cut from the same frame are two objects
    if a_sky is not None and b_sky is not None:
        return a_sky.separation_arcsec(b_sky) <= SAME_POSITION_ARCSEC
    return True
