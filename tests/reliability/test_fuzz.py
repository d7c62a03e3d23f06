"""Decoder fuzzing with a fixed seed: mutated real JPEG/PNG/TIFF/FITS files end in images or
a clear refusal, never another exception or a hang. (The soak script runs many more.)"""

from __future__ import annotations

import random
from pathlib import Path

from tests.reliability.fuzz import fuzz, seed_files


def test_mutated_files_decode_or_are_refused_never_crash_or_hang(shared_data: Path) -> None:
    report = fuzz(seed_files(shared_data), cases=120, rng=random.Random(1616))
    assert report.cases == 120
    assert report.crashes == [], report.crashes[:5]
    assert report.hangs == [], report.hangs
    assert report.refused > 0 and report.decoded > 0  # the mutations bite, and some survive
