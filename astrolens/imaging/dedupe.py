"""Is this the image we already have? Perceptual hashes compared by Hamming distance.

A pHash changes by a bit or two when a survey re-encodes a cutout (another JPEG quality, a
slightly different size) but by about half its 64 bits between two unrelated images, so a small
distance threshold separates "same picture" from "different object".
"""

from __future__ import annotations

# Measured on 40 bench galaxies: re-encodes (JPEG quality 60-95, resized x0.5-1.1) differ by
# 0-2 bits; distinct galaxies by 12 bits at least (26 on average).
DEFAULT_MAX_DISTANCE = 4


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes of equal length."""
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {len(a)} and {len(b)} hex digits")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_same_image(a_phash: str, b_phash: str, max_distance: int = DEFAULT_MAX_DISTANCE) -> bool:
    return hamming(a_phash, b_phash) <= max_distance
