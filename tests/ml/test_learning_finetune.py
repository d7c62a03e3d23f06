"""Head fine-tuning, the promotion rule, splits, and the labelled-dataset readers."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from astrolens.ml.learning.datasets import (
    DatasetError,
    open_class_folders,
    open_galaxy10_h5,
    open_labelled_dataset,
)
from astrolens.ml.learning.finetune import (
    ClassifierHead,
    HeadHyperParameters,
    TrainingCancelled,
    accuracy_metrics,
    majority_metrics,
    should_promote,
    stratified_split,
    train_head,
)


def separable(n: int = 120, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.eye(dim)[:3]
    x = centres[y] + 0.15 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y


def test_head_learns_and_beats_the_majority_guess(tmp_path: Path) -> None:
    x, y = separable()
    train, held = stratified_split(y, holdout=0.3)
    progress: list[float] = []
    head = train_head(
        x[train],
        y[train],
        ("a", "b", "c"),
        "bb",
        HeadHyperParameters(epochs=60),
        progress=lambda f, _msg: progress.append(f),
    )
    after = accuracy_metrics(y[held], head.predict(x[held]), 3)
    before = majority_metrics(y[train], y[held], 3)
    assert after["accuracy"] > 0.9 > 0.5 > before["accuracy"]
    assert should_promote(before, after)
    assert progress[-1] == 1.0 and len(progress) == 60
    head.save(tmp_path / "head.npz")
    loaded = ClassifierHead.load(tmp_path / "head.npz")
    assert loaded.model_id == head.model_id and loaded.classes == ("a", "b", "c")
    assert loaded.model_id.startswith("bb+head:")
    assert np.allclose(loaded.predict_proba(x), head.predict_proba(x))


def test_cancel_stops_training() -> None:
    x, y = separable()
    with pytest.raises(TrainingCancelled):
        train_head(x, y, ("a", "b", "c"), "bb", cancelled=lambda: True)


def test_promotion_needs_a_strict_gain() -> None:
    assert not should_promote({"balanced_accuracy": 0.8}, {"balanced_accuracy": 0.8})
    assert not should_promote({"balanced_accuracy": 0.8}, {"balanced_accuracy": 0.7})
    assert should_promote({}, {"balanced_accuracy": 0.6})
    assert not should_promote({}, {"balanced_accuracy": float("nan")})


def test_split_holds_out_every_stratum_and_never_overlaps() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1])
    surveys = ["sdss"] * 8 + ["hst"] * 4
    train, held = stratified_split(y, surveys, holdout=0.25)
    assert not set(train) & set(held) and len(train) + len(held) == len(y)
    cells = {(surveys[i], int(y[i])) for i in held}
    assert cells == {("sdss", 0), ("sdss", 1), ("hst", 0), ("hst", 1)}


def make_galaxy10(path: Path, n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f["images"] = images
        f["ans"] = np.arange(n, dtype=np.uint8) % 10
    return images


def test_galaxy10_h5_reads_images_in_the_requested_order(tmp_path: Path) -> None:
    images = make_galaxy10(tmp_path / "g10.h5")
    data = open_labelled_dataset(tmp_path / "g10.h5")
    assert len(data) == 6 and data.classes[1] == "merging"
    ((batch, labels),) = list(data.batches([4, 1, 3], batch_size=8))
    assert labels.tolist() == [4, 1, 3]
    assert batch[0].shape == (256, 256, 3) and batch[0].dtype == np.float32
    assert np.allclose(batch[0], images[4] / 255.0) and np.allclose(batch[1], images[1] / 255.0)


def test_galaxy10_schema_is_checked(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["images"] = np.zeros((2, 8, 8), np.uint8)
        f["ans"] = np.zeros(2)
    with pytest.raises(DatasetError):
        open_galaxy10_h5(tmp_path / "bad.h5")
    (tmp_path / "noth5.h5").write_text("no")
    with pytest.raises(DatasetError):
        open_galaxy10_h5(tmp_path / "noth5.h5")


def test_folder_per_class_tree(tmp_path: Path) -> None:
    tmp_path = tmp_path / "set"
    tmp_path.mkdir()
    for cls, colour in (("ring", 255), ("spiral", 0)):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (10, 12), (colour, 0, 0)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "ring" / "notes.txt").write_text("ignored")
    data = open_class_folders(tmp_path)
    assert data.classes == ("ring", "spiral") and data.labels.tolist() == [0, 0, 1, 1]
    batch, _labels = next(data.batches(batch_size=4))
    assert batch[0].shape == (12, 10, 3) and batch[0][0, 0, 0] == 1.0 and batch[2][0, 0, 0] == 0
    with pytest.raises(DatasetError):
        open_class_folders(tmp_path / "ring")


def test_without_torch_training_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The desktop bundle has no torch: a run must end with a reason a user can act on."""
    from astrolens.ml.embedders.errors import ModelUnavailableError
    from astrolens.ml.learning.finetune import train_head

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(ModelUnavailableError, match="torch is not available in this build"):
        train_head(np.eye(4, dtype=np.float32), np.array([0, 1, 0, 1]), ("a", "b"), "m")
