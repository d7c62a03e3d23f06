"""`astrolens score --thorough --morphology` on real bench images: the opt-in detectors join
the calibrated ensemble and show up as their own CSV columns."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from astrolens.app.cli import main


def test_score_with_local_evidence_and_morphology(
    shared_data: Path, isolated_home: Path, tmp_path: Path
) -> None:
    bench = shared_data / "bench"
    with (bench / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["track"] == "rings"]
    reference = tmp_path / "reference"
    reference.mkdir()
    for r in [r for r in rows if r["split"] == "reference"][:24]:
        os.symlink(bench / r["path"], reference / Path(r["path"]).name)
    tests = [r for r in rows if r["split"] == "test"]
    queries = [str(bench / r["path"]) for r in tests[:4] + tests[-4:]]
    out = tmp_path / "scores.csv"
    code = main(["score", "--reference", str(reference), "--thorough", "--morphology",
                 "--output", str(out), *queries])  # fmt: skip
    assert code == 0
    with out.open() as fh:
        scored = list(csv.DictReader(fh))
    assert len(scored) == 8
    for row in scored:
        assert float(row["det_patchcore"]) > 0 and float(row["det_morphology"]) > 0
        assert float(row["det_knn5"]) >= 0 and row["verdict"] in {"normal", "near_miss", "anomaly"}
