"""`astrolens batch` and `astrolens ingest` through the real CLI, on real bench images.

One flow, in order, because each step needs the one before and a cluster start costs seconds:
score ~200 images on a 2-process LocalCluster, check the shards against `astrolens score`,
rerun after losing a shard, then ingest into the real store.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from astrolens.app.batch.shards import read_rows, shard_files
from astrolens.app.cli import main
from astrolens.app.context import AstroLensApp
from astrolens.domain.records import CandidateOrder, LabelState
from astrolens.domain.scoring import Verdict


def bench_files(bench: Path, track: str, split: str, limit: int | None = None) -> list[Path]:
    return sorted((bench / track / split).iterdir())[:limit]


@pytest.fixture
def inputs(tmp_path: Path, bench: Path) -> tuple[Path, list[Path], Path, Path]:
    """A file list: the rings test split, 30 Galaxy Zoo images, a broken file, a typo."""
    images = bench_files(bench, "rings", "test") + bench_files(bench, "gz", "test", 30)
    broken = tmp_path / "broken.jpg"
    broken.write_text("<html><body>503 Service Unavailable</body></html>")
    missing = tmp_path / "no-such-cutout.png"
    listing = tmp_path / "survey.txt"
    listing.write_text("\n".join(str(p) for p in [*images, broken, missing]) + "\n")
    return listing, images, broken, missing


def _batch(listing: Path, ref: Path, out: Path) -> int:
    args = ["--reference", str(ref), "--workers", "2", "--partition-size", "25"]
    return main(["batch", *args, "--output", str(out), str(listing)])


# Real models on a LocalCluster: minutes when the shared 2 cores are busy.
@pytest.mark.timeout(900)
def test_batch_scores_resumes_and_ingests(
    tmp_path: Path,
    inputs: tuple[Path, list[Path], Path, Path],
    rings_reference: Path,
    bench: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    listing, images, broken, missing = inputs
    out = tmp_path / "result"

    # 1. Score: every input is one row, once; unreadable inputs are rows with an error.
    assert _batch(listing, rings_reference, out) == 0
    err = capsys.readouterr().err
    assert "202 images" in err and "2 unreadable" in err and "9 scored now" in err
    table = read_rows(out)
    rows = {r["uri"]: r for r in table.to_pylist()}
    assert table.num_rows == len(rows) == len(images) + 2
    assert set(rows) == {str(p) for p in [*images, broken, missing]}
    assert rows[str(broken)]["verdict"] == "error" and rows[str(broken)]["error"]
    assert "No such file" in rows[str(missing)]["error"]
    good = [rows[str(p)] for p in images]
    assert all(r["error"] is None and r["p_value"] is not None for r in good)
    assert len({r["reference_id"] for r in good}) == 1
    assert {r["model_id"] for r in good} == {r["model_id"] for r in good[:1]}
    assert all(r["det_knn5"] is not None and r["det_mahalanobis"] is not None for r in good)
    candidates = [r for r in good if r["verdict"] in ("anomaly", "near_miss")]
    assert candidates, "the rings test split holds ring galaxies the reference lacks"
    assert all(len(r["embedding"]) == 1280 for r in candidates)
    assert all(r["embedding"] is None for r in good if r["verdict"] == "normal")

    # 2. Same scores as `astrolens score` (the benchmark contract) on the rings test split.
    scores_csv = tmp_path / "scores.csv"
    args = ["--reference", str(rings_reference), "--output", str(scores_csv)]
    assert main(["score", *args, str(bench / "rings" / "test")]) == 0
    with scores_csv.open() as fh:
        single = {r["path"]: float(r["score"]) for r in csv.DictReader(fh)}
    paths = sorted(single)
    rho = spearmanr([single[p] for p in paths], [rows[p]["score"] for p in paths]).statistic
    assert rho >= 0.999
    assert max(abs(single[p] - rows[p]["score"]) for p in paths) < 1e-3

    # 3. Rerun after a shard was lost: only that partition is scored again.
    shards = shard_files(out)
    lost = shards[3]
    kept_mtimes = {s: s.stat().st_mtime_ns for s in shards if s != lost}
    lost.unlink()
    capsys.readouterr()
    assert _batch(listing, rings_reference, out) == 0
    err = capsys.readouterr().err
    assert "8 already written, 1 scored now" in err
    assert {s: s.stat().st_mtime_ns for s in shards if s != lost} == kept_mtimes
    assert pq.read_table(lost).num_rows == 25
    assert read_rows(out).num_rows == len(images) + 2

    # ... and a rerun against another reference is refused, not mixed in.
    other = ["--reference", str(bench / "gz" / "reference"), "--output", str(out)]
    assert main(["batch", *other, str(listing)]) == 2
    assert "use a new --output folder" in capsys.readouterr().err

    # 4. Ingest: candidates become reviewable in the store with their provenance.
    assert main(["ingest", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"{len(candidates)} candidates added" in said
    app = AstroLensApp()
    try:
        found = app.db(
            lambda repo: repo.candidates(
                verdicts=[Verdict.ANOMALY, Verdict.NEAR_MISS],
                limit=1000,
                order=CandidateOrder.SCORE,
                label_state=LabelState.ANY,
            )
        )
        by_uri = {c.image.provenance.uri: c for c in found}
        assert set(by_uri) == {r["uri"] for r in candidates}
        for r in candidates:
            c = by_uri[r["uri"]]
            assert c.image.provenance.source_id == "batch"
            assert c.image.provenance.extra["reference_id"] == r["reference_id"]
            assert c.result.score == pytest.approx(r["score"])
            assert c.result.verdict.value == r["verdict"]
            assert Path(c.image.thumbnail_path).is_file()
        normals = sum(1 for r in good if r["verdict"] == "normal")
        assert app.db(lambda repo: repo.count_images()) == len(candidates)
        key = f"batch:{good[0]['reference_id']}:{out.name}"
        stored = json.loads(app.db(lambda repo: repo.get_value(key)))
        assert stored["normals"] == normals and stored["errors"] == 2
    finally:
        app.close()

    # Ingesting again adds nothing.
    assert main(["ingest", str(out)]) == 0
    assert "0 candidates added" in capsys.readouterr().out


def test_missing_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    code = main(["batch", "--reference", str(tmp_path), "--output", str(tmp_path), str(tmp_path)])
    assert code == 2
    assert "pip install 'astrolens[cluster]'" in capsys.readouterr().err


@pytest.mark.timeout(900)
def test_batch_runs_on_an_existing_scheduler(
    tmp_path: Path, bench: Path, rings_reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--scheduler ADDR`: the cluster a dask-jobqueue/Kubernetes user started themselves."""
    from distributed import LocalCluster

    images = bench_files(bench, "gz", "test", 12)
    listing = tmp_path / "few.txt"
    listing.write_text("\n".join(map(str, images)))
    out = tmp_path / "result"
    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        args = ["--reference", str(rings_reference), "--scheduler", cluster.scheduler_address]
        assert main(["batch", *args, "--output", str(out), str(listing)]) == 0
        # The cluster outlives the command: it belongs to whoever started it.
        assert cluster.status.name == "running"
    assert f"Dask scheduler {cluster.scheduler_address} with 1 workers" in capsys.readouterr().err
    assert sorted(read_rows(out).column("uri").to_pylist()) == sorted(map(str, images))
