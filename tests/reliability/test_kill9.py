"""kill -9 at random points across fetch, decode, persistence and scoring, ten times over
one home; the store then ends exactly as one uninterrupted scan does."""

from __future__ import annotations

import random
from pathlib import Path

from tests.reliability.conftest import copy_into
from tests.reliability.killing import kill_rounds, reference_scan


def test_ten_kill_9s_then_a_rerun_equal_one_uninterrupted_scan(
    tmp_path: Path, shared_data: Path
) -> None:
    demo = shared_data / "demo"
    files = sorted(demo.glob("normal__*"))[:5] + sorted(demo.glob("anomaly__*"))[:3]
    folder = copy_into(tmp_path / "in", *files)
    reference = reference_scan(tmp_path / "reference", folder)
    assert reference.images == len(files)

    report = kill_rounds(
        tmp_path / "homes", folder, reference, rounds=2, kills_per_round=5, rng=random.Random(16)
    )
    assert report.trials == 10 and report.kills >= 5
    assert report.problems == []
    assert report.nothing_lost
