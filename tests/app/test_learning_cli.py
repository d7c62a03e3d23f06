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
