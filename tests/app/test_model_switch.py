"""Changing the model in settings re-embeds the archive in the background, never mixing."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path

import pytest

from astrolens.app.agent import create_agent_controller
from astrolens.app.cli import main
from astrolens.app.context import AstroLensApp
from tests.app.test_cli import _bench


async def test_switching_the_model_reembeds_every_stored_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in _bench("hsc", "reference", "galaxy")[:24]:
        shutil.copy(path, folder)
    assert await asyncio.to_thread(main, ["scan", str(folder), "--no-crossmatch"]) == 0

    app = AstroLensApp()
    runtime = create_agent_controller(app, start=False)
    old_model = app.embedder.model_id
    await runtime.save_settings(dataclasses.replace(app.settings, model="efficientnet-lite0+r128"))
    new_model = app.embedder.model_id
    assert new_model != old_model
    reembed = next(t for t in runtime._scans if t.get_name() == "astrolens-reembed")
    await asyncio.wait_for(reembed, 120)

    missing = app.db(lambda r: r.images_missing_embedding(new_model, 100))
    old_ids, old_vectors = app.db(lambda r: r.embeddings(old_model))
    new_ids, new_vectors = app.db(lambda r: r.embeddings(new_model))
    await runtime.shutdown()
    assert missing == []
    assert sorted(new_ids) == sorted(old_ids) and len(new_ids) == 24
    assert new_vectors.shape == old_vectors.shape  # same dim, separate vectors per model
