"""Planning and the saved reference model: pure pieces, no cluster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from astrolens.app.batch.plan import (
    WorkItem,
    collect_items,
    partition,
    read_plan,
    write_plan,
)
from astrolens.app.batch.reference import (
    ARRAYS_FILE,
    ReferenceModel,
    load_reference,
    save_reference,
    state_digest,
)
from astrolens.domain.errors import ConfigurationError
from astrolens.ml.scoring.ensemble import EnsembleScorer


def test_file_list_folders_and_images_become_one_ordered_list(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.png", "a.jpg", "sub/c.fits", "notes.md"):
        (folder / name).write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# survey tile 1\n{folder / 'a.jpg'}\n\nimgs/b.png\nmissing.jpg\n")
    items = collect_items([listing, folder])
    uris = [i.uri for i in items]
    # The list's entries first (relative ones resolved against the list), then the folder's
    # files not already listed; a missing listed file stays, to become an error row.
    assert uris == [
        str(folder / "a.jpg"),
        str(folder / "b.png"),
        str(tmp_path / "missing.jpg"),
        str(folder / "sub" / "c.fits"),
    ]


def test_partitions_cover_every_item_once_and_plan_round_trips(tmp_path: Path) -> None:
    items = [WorkItem(f"/x/{i}.png", ra=float(i) if i % 2 else None) for i in range(23)]
    parts = partition(items, 5)
    assert [len(p.items) for p in parts] == [5, 5, 5, 5, 3]
    write_plan(parts, tmp_path / "plan.parquet")
    assert read_plan(tmp_path / "plan.parquet") == parts
    with pytest.raises(ConfigurationError):
        partition(items, 0)


def _reference(tmp_path: Path) -> ReferenceModel:
    rng = np.random.default_rng(0)
    scorer = EnsembleScorer()
    scorer.fit(rng.normal(size=(40, 8)).astype(np.float32), group="survey", model_id="m")
    arrays, meta = scorer.to_state()
    return ReferenceModel(
        reference_id=state_digest("m", arrays, meta),
        embedder_spec="efficientnet-lite0",
        model_id="m",
        calibration_version=1,
        reference_size=40,
        reference_dir=str(tmp_path),
        models_dir=str(tmp_path),
        search_dirs=(),
        scorer_meta=meta,
        arrays=arrays,
    )


def test_saved_reference_scores_like_the_fitted_one(tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    save_reference(ref, tmp_path)
    loaded = load_reference(tmp_path)
    assert loaded is not None and loaded.reference_id == ref.reference_id
    x = np.random.default_rng(1).normal(size=(10, 8)).astype(np.float32)
    assert [r.score for r in loaded.scorer().score(x)] == [r.score for r in ref.scorer().score(x)]
    assert loaded.detector_names == ["knn5", "mahalanobis"]


def test_a_damaged_reference_is_refused(tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    save_reference(ref, tmp_path)
    arrays = dict(np.load(tmp_path / ARRAYS_FILE))
    arrays["weights"] = arrays["weights"] * 2
    np.savez(tmp_path / ARRAYS_FILE, **arrays)
    with pytest.raises(ConfigurationError, match="does not match its id"):
        load_reference(tmp_path)


def test_each_partition_is_judged_afresh(tmp_path: Path) -> None:
    """Verdicts must not depend on which partitions a worker ran before (the FDR window)."""
    ref = _reference(tmp_path)
    x = np.random.default_rng(2).normal(size=(30, 8)).astype(np.float32)
    first = ref.scorer().score(x)
    ref.scorer().score(x * 5)  # something odd ran on this worker in between
    again = ref.scorer().score(x)
    assert [r.verdict for r in first] == [r.verdict for r in again]
