"""Candidates a batch found, after `astrolens ingest`, reviewed in the window of the real agent
(screenshots batch-gallery.png and batch-verification.png, 1366x768)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from astrolens.app.agent import AgentRuntime, create_agent_controller
from astrolens.app.cli import main
from astrolens.app.context import AppOptions, AstroLensApp
from astrolens.domain.labels import LabelValue
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from tests.ui.conftest import save_screenshot

pytest.importorskip("pyarrow", reason="the astrolens[cluster] extra is not installed")


@pytest.fixture
def ingested_home(shared_data: Path, tmp_path: Path, isolated_home: Path) -> Path:
    """The demo cutouts batch-scored against the rings reference, then ingested. Each partition
    runs the worker's own function in this process: the cluster itself is tested in
    tests/app/batch; here only what the window shows matters."""
    from astrolens.app.batch.run import prepare
    from astrolens.app.batch.shards import shard_path
    from astrolens.app.batch.worker import score_partition

    out = tmp_path / "batch"
    app = AstroLensApp()
    try:
        reference = shared_data / "bench" / "rings" / "reference"
        ref, parts = prepare(app, reference, [shared_data / "demo"], out, partition_size=16)
    finally:
        app.close()
    for part in parts:
        score_partition(ref, part, str(shard_path(out, part.index)))
    assert main(["ingest", str(out)]) == 0
    return isolated_home


@pytest.fixture
def runtime(ingested_home: Path, qloop: asyncio.AbstractEventLoop) -> Iterator[AgentRuntime]:
    app = AstroLensApp(options=AppOptions(offline_catalogs=True))
    yield create_agent_controller(app, start=False)
    app.close()


@pytest.mark.timeout(900)
def test_batch_candidates_are_reviewable_in_the_window(qtbot: QtBot, runtime: AgentRuntime) -> None:
    win = MainWindow(runtime, AgentBridge(runtime), url_opener=lambda url: None)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()

    win.show_panel("Gallery")
    g = win.gallery
    qtbot.waitUntil(lambda: g.model.rowCount() >= 3, timeout=15000)
    rows = [g.model.candidate_at(r) for r in range(g.model.rowCount())]
    assert {c.image.provenance.source_id for c in rows} == {"batch"}
    assert all("reference_id" in c.image.provenance.extra for c in rows)
    qtbot.waitUntil(lambda: len(g.model.thumbnails) >= min(6, len(rows)), timeout=10000)
    g.view.setCurrentIndex(g.model.index(0))
    qtbot.wait(500)
    save_screenshot(win, "batch-gallery")

    first = rows[0]
    win.open_candidate(first.id)
    qtbot.wait(500)
    save_screenshot(win, "batch-verification")

    # A label on a batch candidate is stored like any other.
    task = asyncio.ensure_future(runtime.label(first.id, LabelValue.FALSE_POSITIVE, "batch"))
    qtbot.waitUntil(task.done, timeout=15000)
    task.result()
    got = asyncio.ensure_future(runtime.get_candidate(first.id))
    qtbot.waitUntil(got.done, timeout=5000)
    assert got.result().label.value is LabelValue.FALSE_POSITIVE
