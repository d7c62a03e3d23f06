"""Issue 14: after the sample sky, a scan of the demo folder must not flag its normal galaxies
wholesale. The Hubble deep-field stamps are another kind of image than the demo's survey
cutouts, so the cutouts have no reference yet: they are ranked within their batch, the CLI
says "new kind of image: no reference yet (n of N)", and none of them is called an anomaly.

Real CLI, real sample sky, real demo files."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from statistics import mean

import pytest

from astrolens.app.cli import main


def _whole_file_verdicts(db: Path) -> dict[str, tuple[str, float]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT i.uri, s.verdict, s.score FROM images i JOIN scores s ON s.image_id = i.id "
            "WHERE i.parent_uri IS NULL"
        ).fetchall()
    return {uri.rsplit("/", 1)[-1]: (verdict, score) for uri, verdict, score in rows}


def test_demo_after_sample_sky_is_a_new_kind(
    shared_data: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--headless", "--once", "--source", "sample-sky", "--no-crossmatch"]) == 0
    capsys.readouterr()

    demo = (shared_data / "demo").resolve()
    assert main(["scan", str(demo), "--offline"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps lines at the terminal width

    assert "new kind of image: no reference yet (0 of 20)" in out
    assert "ranked within this batch" in out

    verdicts = _whole_file_verdicts(isolated_home / "data" / "astrolens.sqlite3")
    normals = {n: v for n, v in verdicts.items() if n.startswith("normal__")}
    anomalies = {n: v for n, v in verdicts.items() if n.startswith("anomaly__")}
    assert len(normals) == 11 and len(anomalies) == 17
    # Before: all 11 normals (and every anomaly) were flagged against the deep-field stamps.
    flagged_normals = [n for n, (verdict, _) in normals.items() if verdict != "normal"]
    assert len(flagged_normals) <= 2, flagged_normals
    # Without a reference nothing is calibrated: at most a near-miss, never an anomaly.
    assert all(v != "anomaly" for v, _ in [*normals.values(), *anomalies.values()])
    # The within-batch ranking still puts the demo's anomalies above its normals on average.
    assert mean(s for _, s in anomalies.values()) > mean(s for _, s in normals.values())
