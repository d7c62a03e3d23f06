"""The window over the real agent (store, scorer, FAISS neighbours) after real scans of real
images: what a user sees, saved as screenshots (real-*.png)."""

from __future__ import annotations

import asyncio
import csv
import shutil
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


@pytest.fixture
def scanned_home(shared_data: Path, tmp_path: Path, isolated_home: Path) -> Path:
    """A reference of 40 HSC galaxies, then the demo's galaxy cutouts scanned against it."""
    bench = shared_data / "bench"
    with (bench / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if (r["track"], r["split"]) == ("hsc", "reference")]
    reference = tmp_path / "reference"
    reference.mkdir()
    for r in rows[:40]:
        shutil.copy(bench / r["path"], reference)
    demo = tmp_path / "demo"
    demo.mkdir()
    for path in (shared_data / "demo").glob("*al__*"):  # anomaly__ and normal__ cutouts
        if path.suffix in (".jpg", ".png"):
            shutil.copy(path, demo)
    assert main(["scan", str(reference), "--no-crossmatch"]) == 0
    assert main(["scan", str(demo), "--offline"]) == 0
    return isolated_home


@pytest.fixture
def runtime(scanned_home: Path, qloop: asyncio.AbstractEventLoop) -> Iterator[AgentRuntime]:
    app = AstroLensApp(options=AppOptions(offline_catalogs=True))
    yield create_agent_controller(app, start=False)
    app.close()


def test_gallery_and_verification_over_the_real_agent(qtbot: QtBot, runtime: AgentRuntime) -> None:
    win = MainWindow(runtime, AgentBridge(runtime), url_opener=lambda url: None)
    qtbot.addWidget(win)
    win.resize(1280, 820)
    win.show()

    win.show_panel("Gallery")
    g = win.gallery
    qtbot.waitUntil(lambda: g.model.rowCount() >= 5, timeout=15000)
    first = g.model.candidate_at(0)
    scores = [g.model.candidate_at(r).result.score for r in range(g.model.rowCount())]
    assert scores == sorted(scores, reverse=True)
    assert "/demo/" in first.image.provenance.uri  # the oddities come from the demo scan
    g.view.setCurrentIndex(g.model.index(0))
    d = g.details
    qtbot.waitUntil(lambda: "×" in d.viewer.status.text(), timeout=10000)
    qtbot.waitUntil(lambda: d.neighbours.count() > 0, timeout=15000)  # FAISS "more like this"
    qtbot.waitUntil(lambda: len(g.model.thumbnails) >= min(6, g.model.rowCount()), timeout=10000)
    qtbot.wait(300)
    save_screenshot(win, "real-gallery")

    win.open_candidate(first.id)
    qtbot.wait(500)
    save_screenshot(win, "real-verification")

    # A label given in the window is stored by the real agent.
    task = asyncio.ensure_future(runtime.label(first.id, LabelValue.TRUE_POSITIVE, "lens"))
    qtbot.waitUntil(task.done, timeout=15000)
    task.result()
    labelled = asyncio.ensure_future(runtime.get_candidate(first.id))
    qtbot.waitUntil(labelled.done, timeout=5000)
    candidate = labelled.result()
    assert candidate is not None and candidate.label is not None
    assert candidate.label.value is LabelValue.TRUE_POSITIVE


def test_asking_the_catalogs_again_updates_the_views_from_the_event(
    qtbot: QtBot, runtime: AgentRuntime
) -> None:
    """The retry's answer carries the stored candidate: Verification and the Gallery row
    take it from the event, with no read of the store beyond the agent's own."""
    win = MainWindow(runtime, AgentBridge(runtime), url_opener=lambda url: None)
    qtbot.addWidget(win)
    win.show()
    win.show_panel("Gallery")
    qtbot.waitUntil(lambda: win.gallery.model.rowCount() >= 1, timeout=15000)
    first = win.gallery.model.candidate_at(0)
    win.open_candidate(first.id)
    qtbot.waitUntil(
        lambda: (
            win.verification.candidate is not None and win.verification.candidate.id == first.id
        ),
        timeout=10000,
    )
    reads: list[int] = []
    real_get = runtime.get_candidate

    async def counting_get(image_id: int):  # type: ignore[no-untyped-def]
        reads.append(image_id)
        return await real_get(image_id)

    runtime.get_candidate = counting_get  # type: ignore[method-assign]
    win.verification.status.setText("")
    # The demo cutouts have no sky position, so the window's button is off for them; the
    # controller call is what the button does. The agent answers at once with the verdict.
    retry = asyncio.ensure_future(runtime.retry_crossmatch(first.id))
    qtbot.waitUntil(retry.done, timeout=15000)
    retry.result()
    qtbot.waitUntil(
        lambda: win.verification.status.text().startswith(f"#{first.id}:"), timeout=15000
    )
    qtbot.wait(300)  # any re-read the views would start has started by now
    assert reads == [first.id]  # the agent's own look-up; the views read nothing
    shown = win.verification.candidate
    row = win.gallery.model.row_of(first.id)
    assert shown is not None and row is not None
    assert win.gallery.model.candidate_at(row).catalog_verdict is shown.catalog_verdict
