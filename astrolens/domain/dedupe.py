"""When two images are the same image: exact bytes, or perceptual hashes a few bits apart."""

from __future__ import annotations

DEFAULT_MAX_DISTANCE = 4


def hamming(a_hex: str, b_hex: str) -> int:
    """Bits that differ between two hex-encoded perceptual hashes of equal length."""
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hash lengths differ: {len(a_hex)} vs {len(b_hex)}")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def is_same_image(a_hex: str, b_hex: str, max_distance: int = DEFAULT_MAX_DISTANCE) -> bool:
    return hamming(a_hex, b_hex) <= max_distance
