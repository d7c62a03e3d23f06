"""The command line, end to end, on real images with the real default backbone."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from astrolens import __version__
from astrolens.app.cli import main

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bench"


def _bench(track: str, split: str, subtype: str) -> list[Path]:
    manifest = BENCH / "manifest.csv"
    if not manifest.exists():
        pytest.skip("../shared/data/bench is not present")
    with manifest.open() as fh:
        return [
            BENCH / r["path"]
            for r in csv.DictReader(fh)
            if (r["track"], r["split"], r["subtype"]) == (track, split, subtype)
        ]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """25 HSC galaxies, 3 HSC outliers, a truncated PNG and an HTML page named .jpg."""
    root = tmp_path / "images"
    root.mkdir()
    for path in _bench("hsc", "reference", "galaxy")[:25]:
        shutil.copy(path, root / f"normal_{path.name}")
    for path in _bench("hsc", "test", "top_outlier")[:3]:
        shutil.copy(path, root / f"odd_{path.name}")
    (root / "broken.png").write_bytes((root.glob("normal_*").__next__()).read_bytes()[:100])
    (root / "error.jpg").write_text("<html><body>503 Service Unavailable</body></html>")
    return root


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"astrolens {__version__}"


def test_version_imports_no_command_module() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from astrolens.app.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('numpy', 'astrolens.app.context') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "[]"


def test_missing_path_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["scan", str(tmp_path / "nope")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [f"astrolens: error: no such file or folder: {tmp_path / 'nope'}"]


def test_no_display_offers_headless(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main([]) == 2
    assert "--headless" in capsys.readouterr().err


def test_scan_then_inspect_label_and_quarantine(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(folder), "--no-crossmatch"]) == 0
    out = capsys.readouterr().out
    assert "Stored 28 new images" in out
    assert "2 unreadable" in out

    assert main(["quarantine"]) == 0
    out = capsys.readouterr().out
    assert "broken.png" in out and "error.jpg" in out

    assert main(["candidates", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found, "the outliers should at least be near-misses"
    assert found == sorted(found, key=lambda c: -c["score"])
    top = found[0]
    assert "odd_" in top["uri"]
    assert set(top["detector_scores"]) and top["model_id"].startswith("efficientnet-lite0")

    assert main(["show", str(top["id"]), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == top["id"] and shown["explanation"].startswith("p = ")
    assert (
        Path(shown["image_path"]).read_bytes()
        == next(p for p in folder.iterdir() if p.as_uri() == shown["uri"]).read_bytes()
    )

    assert main(["label", str(top["id"]), "fp", "--note", "artefact"]) == 0
    assert "re-ranked" in capsys.readouterr().out
    assert main(["show", str(top["id"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "false_positive"
    # the label re-ranked the queue: the review order no longer starts with what was rejected
    assert main(["candidates", "--order", "rank", "--unlabelled", "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)
    assert top["id"] not in [c["id"] for c in queue] and len(queue) == len(found) - 1
    assert all(c["rank_score"] is not None for c in queue)

    # A second scan of the same folder stores nothing new and re-reads nothing.
    assert main(["scan", str(folder), "--no-crossmatch"]) == 0
    assert "Stored 0 new images" in capsys.readouterr().out


def test_show_unknown_id_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "12345"]) == 2
    assert "no candidate with id 12345" in capsys.readouterr().err


def test_score_writes_the_benchmark_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = tmp_path / "ref"
    ref.mkdir()
    for path in _bench("hsc", "reference", "galaxy")[:40]:
        shutil.copy(path, ref / path.name)
    normals = _bench("hsc", "test", "galaxy")[:6]
    odd = _bench("hsc", "test", "top_outlier")[:6]
    out = tmp_path / "scores.csv"
    code = main(["score", "--reference", str(ref), "--output", str(out), *map(str, normals + odd)])
    assert code == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    columns = set(rows[0])
    assert {"path", "score", "verdict", "p_value"} <= columns
    assert any(c.startswith("det_") for c in columns)
    score = {r["path"]: float(r["score"]) for r in rows}
    mean_odd = sum(score[str(p)] for p in odd) / len(odd)
    mean_normal = sum(score[str(p)] for p in normals) / len(normals)
    assert mean_odd > mean_normal
    assert "images/s" in capsys.readouterr().err


def test_sources_lists_every_registered_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources"]) == 0
    out = capsys.readouterr().out
    for sid in ("sample-sky", "folder", "sdss", "legacy-survey", "ztf", "apod"):
        assert sid in out


def test_crossref_offline_knows_m51(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["crossref", "--ra", "202.4696", "--dec", "47.1952", "--offline", "--json"])
    assert code == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["verdict"] == "known_object"
    assert any(o["name"].startswith("M51") for r in answer["results"] for o in r["objects"])


def test_a_second_folder_and_a_late_file_are_never_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    galaxies = _bench("hsc", "reference", "galaxy")
    later, earlier = tmp_path / "b-folder", tmp_path / "a-folder"
    later.mkdir()
    earlier.mkdir()
    for path in galaxies[:22]:
        shutil.copy(path, later / f"m_{path.name}")
    for path in galaxies[22:25]:
        shutil.copy(path, earlier / path.name)
    assert main(["scan", str(later), "--no-crossmatch"]) == 0
    assert "Stored 22 new images" in capsys.readouterr().out
    # A folder whose paths sort before everything stored so far.
    assert main(["scan", str(earlier), "--no-crossmatch"]) == 0
    assert "Stored 3 new images" in capsys.readouterr().out
    # A file added later to the first folder, sorting before its stored files.
    shutil.copy(galaxies[30], later / f"a_{galaxies[30].name}")
    assert main(["scan", str(later), "--no-crossmatch"]) == 0
    assert "Stored 1 new images" in capsys.readouterr().out
