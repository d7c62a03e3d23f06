"""Fine-tuning the backbone from verification labels, end to end: the run is recorded, the
winning backbone becomes the model, the archive is re-embedded under it (never mixed with the
old vectors) and its head takes part in the ranking."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from astrolens.app.agent import create_agent_controller
from astrolens.app.cli import main
from astrolens.app.context import AstroLensApp
from astrolens.domain.labels import LabelValue
from astrolens.domain.learning import TrainingRequest
from astrolens.domain.records import TrainingStatus
from astrolens.services.heads import LABELS_TASK, heads_dir, promoted_head
from tests.ml.test_learning_backbone import two_kinds


def _write(folder: Path, n: int) -> None:
    folder.mkdir()
    images, labels = two_kinds(n, seed=3)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"{'disc' if label else 'stars'}_{i:02d}.png"
        Image.fromarray((255 * image).astype(np.uint8)).save(folder / name)


async def test_a_winning_backbone_becomes_the_model_and_the_archive_follows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "images", 24)
    assert await asyncio.to_thread(main, ["scan", str(tmp_path / "images"), "--no-crossmatch"]) == 0
    app = AstroLensApp()
    runtime = create_agent_controller(app, start=False)
    old_model = app.embedder.model_id
    records = app.db(lambda r: r.images_missing_embedding("no-such-model", 100))
    kinds = [("disc_" in r.provenance.uri) for r in records]
    assert min(kinds.count(True), kinds.count(False)) >= 8, "both kinds are stored"
    for record in records:
        interesting = "disc_" in record.provenance.uri
        value = LabelValue.TRUE_POSITIVE if interesting else LabelValue.FALSE_POSITIVE
        await runtime.label(record.id, value)

    runtime.train(TrainingRequest(backbone_blocks=1, epochs=3, holdout=0.25))
    await runtime.learning.runner.wait()
    (run,) = await runtime.training_runs()
    assert run.status is TrainingStatus.FINISHED, run.parameters
    assert run.parameters["backbone_blocks"] == 1 and run.metrics_after["n"] >= 4
    assert run.promoted and run.metrics_after["balanced_accuracy"] == 1.0
    assert run.new_model is not None and run.new_model.startswith("efficientnet-lite0+ft-")

    switch = next(t for t in runtime._scans if t.get_name() == "astrolens-switch-model")
    await asyncio.wait_for(switch, 60)
    reembed = next(t for t in runtime._scans if t.get_name() == "astrolens-reembed")
    await asyncio.wait_for(reembed, 120)
    new_model = app.embedder.model_id
    assert app.settings.model == run.new_model and new_model == run.parameters["new_model_id"]
    assert new_model != old_model
    new_ids, _ = app.db(lambda r: r.embeddings(new_model))
    old_ids, _ = app.db(lambda r: r.embeddings(old_model))
    assert sorted(new_ids) == sorted(old_ids) and len(new_ids) == len(records)
    head = promoted_head(heads_dir(app), LABELS_TASK, new_model, 1280)
    assert head is not None, "the head trained with the backbone ranks under the new model"
    await runtime.shutdown()

    # the CLI sees the run, and a new process starts on the fine-tuned model
    assert main(["runs", "--json"]) == 0
    assert '"new_model"' in capsys.readouterr().out
    assert AstroLensApp().settings.model == run.new_model
