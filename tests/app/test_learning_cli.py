"""`astrolens train --dataset G10.h5` and `astrolens runs`, with the real backbone."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from astrolens.app.cli import main


def galaxy10(path: Path, n: int = 24) -> None:
    """Galaxy10's real schema; two visibly different classes (bright disc vs dark field)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    disc = ((yy - 128) ** 2 + (xx - 128) ** 2 < 40**2)[..., None]
    images = rng.integers(0, 40, (n, 256, 256, 3), dtype=np.uint8)
    labels = np.arange(n) % 2 * 2  # classes 0 (disturbed) and 2 (round smooth)
    images[labels == 2] = np.where(disc, 230, images[labels == 2]).astype(np.uint8)
    with h5py.File(path, "w") as f:
        f["images"] = images
        f["ans"] = labels.astype(np.uint8)


def test_train_on_a_galaxy10_file_records_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    galaxy10(tmp_path / "Galaxy10_DECals.h5")
    assert main(["train", "--dataset", str(tmp_path / "Galaxy10_DECals.h5"), "--epochs", "40"]) == 0
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["status"] == "finished" and run["data"].endswith("Galaxy10_DECals.h5")
    assert run["parameters"]["epochs"] == 40
    assert run["metrics_after"]["n"] >= 4
    # the first head must beat the majority-class guess on held-out images to be kept
    assert run["promoted"] == (
        run["metrics_after"]["balanced_accuracy"] > run["metrics_before"]["balanced_accuracy"]
    )
    assert run["metrics_after"]["balanced_accuracy"] == 1.0


def test_train_without_labels_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) != 0
    assert "true- and false-positive labels" in capsys.readouterr().err
    assert main(["runs"]) == 0  # the failed run is recorded, with its reason
    out = capsys.readouterr().out
    assert "failed" in out and "did not finish: need true- and false-positive labels" in out


def _class_folders(root: Path, names: tuple[str, str], n: int = 8) -> None:
    """Bright discs in the first class folder, dark noise in the second."""
    from PIL import Image

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:64, :64]
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 40, (64, 64, 3), dtype=np.uint8)
            if k == 0:
                r = 10 + i
                img[(yy - 32) ** 2 + (xx - 32) ** 2 < r**2] = 220
            Image.fromarray(img).save(root / name / f"{i}.png")


def test_a_dataset_of_the_labels_classes_trains_with_the_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _class_folders(tmp_path / "past", ("interesting", "not_interesting"))
    code = main(["train", "--dataset", str(tmp_path / "past"), "--with-labels", "--epochs", "30"])
    assert code == 0  # no labels yet: the dataset alone trains the labels head
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["status"] == "finished" and run["parameters"]["task"] == "labels"

    _class_folders(tmp_path / "morph", ("spiral", "elliptical"))
    code = main(["train", "--dataset", str(tmp_path / "morph"), "--with-labels"])
    assert code != 0
    assert "not interesting / not_interesting" in capsys.readouterr().err
