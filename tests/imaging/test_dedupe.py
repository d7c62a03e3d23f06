"""pHash dedupe: a re-encoded galaxy is the same image; two galaxies are not."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from PIL import Image

from astrolens.domain.dedupe import hamming, is_same_image
from astrolens.imaging import ImageDecoder
from tests.imaging.helpers import raw_bytes, raw_from


def test_hamming() -> None:
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("ffffffffffffffff", "0000000000000000") == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError):
        hamming("ff", "fff")


def _reencode(path: Path, quality: int, scale: float) -> bytes:
    image = Image.open(path).convert("RGB")
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _galaxies(shared_data: Path, n: int) -> list[Path]:
    return sorted((shared_data / "bench" / "gz" / "reference").glob("*.jpg"))[:n]


def test_reencoded_galaxy_matches(decoder: ImageDecoder, shared_data: Path) -> None:
    for path in _galaxies(shared_data, 10):
        original = decoder.decode(raw_from(path))[0].perceptual_hash
        for quality, scale in ((60, 1.0), (95, 0.9), (75, 1.1), (85, 0.5)):
            copy = decoder.decode(raw_bytes(_reencode(path, quality, scale), "copy.jpg"))[0]
            assert is_same_image(original, copy.perceptual_hash), (path.name, quality, scale)


def test_different_galaxies_do_not_match(decoder: ImageDecoder, shared_data: Path) -> None:
    hashes = [decoder.decode(raw_from(p))[0].perceptual_hash for p in _galaxies(shared_data, 40)]
    for a, b in itertools.combinations(hashes, 2):
        assert not is_same_image(a, b)
