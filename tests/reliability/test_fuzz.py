"""Decoder fuzzing with a fixed seed: mutated real JPEG/PNG/TIFF/FITS files end in images or
a clear refusal, never another exception or a hang. (The soak script runs many more.)"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

from tests.reliability.fuzz import fuzz, seed_files


def test_mutated_files_decode_or_are_refused_never_crash_or_hang(shared_data: Path) -> None:
    report = fuzz(seed_files(shared_data), cases=120, rng=random.Random(1616))
    assert report.cases == 120
    assert report.crashes == [], report.crashes[:5]
    assert report.hangs == [], report.hangs
    assert report.refused > 0 and report.decoded > 0  # the mutations bite, and some survive


def _case(seeds: dict[str, bytes], seed: int, wanted: int) -> tuple[str, bytes]:
    from tests.reliability.fuzz import mutate

    kinds, rng = sorted(seeds), random.Random(seed)
    for case in range(wanted + 1):
        kind = kinds[case % len(kinds)]
        data = mutate(seeds[kind], rng)
    return kind, data


def test_findings_of_the_soak_stay_fixed(shared_data: Path) -> None:
    """Seed 7 found a TIFF that tifffile reads as a 1-D array (IndexError before the layout
    check) and FITS headers claiming 2**31 - 1 axes (astropy loops over them: a hang)."""
    from astrolens.domain.errors import UnreadableImageError
    from astrolens.domain.images import Provenance, RawImage
    from astrolens.imaging.decoder import ImageDecoder

    seeds = seed_files(shared_data)
    decoder = ImageDecoder()
    for case, expected in ((71, "tif"), (340, "fits")):
        kind, data = _case(seeds, 7, case)
        assert kind == expected
        raw = RawImage(Provenance("fuzz", f"fuzz:{case}"), f"case{case}.{kind}", data)
        with contextlib.suppress(UnreadableImageError):
            decoder.decode(raw)
