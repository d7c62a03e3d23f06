"""A first run in the window and the tray, on the real agent: with nothing significant yet,
the most unusual few wait in the review queue and the tray menu, said to be "most unusual so
far, not yet significant", with how large the reference must grow."""

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
from astrolens.app.context import AstroLensApp
from astrolens.domain.scoring import Verdict
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from astrolens.ui.tray import TrayAgent
from tests.ui.conftest import save_screenshot


@pytest.fixture
def first_scan(shared_data: Path, tmp_path: Path) -> Path:
    bench = shared_data / "bench"
    with (bench / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if (r["track"], r["split"]) == ("hsc", "test")]
    folder = tmp_path / "first"
    folder.mkdir()
    for r in rows[:16]:
        shutil.copy(bench / r["path"], folder)
    assert main(["scan", str(folder), "--no-crossmatch"]) == 0
    return folder


@pytest.fixture
def first_run(first_scan: Path, qloop: asyncio.AbstractEventLoop) -> Iterator[AgentRuntime]:
    app = AstroLensApp()
    yield create_agent_controller(app, start=False)
    app.close()


def test_the_queue_and_the_tray_offer_the_most_unusual_so_far(
    qtbot: QtBot, first_run: AgentRuntime
) -> None:
    bridge = AgentBridge(first_run)
    tray = TrayAgent()
    tray.attach(first_run, bridge)
    qtbot.waitUntil(lambda: tray.recent_menu.title() == "Most unusual so far", timeout=15000)
    titles = [a.text() for a in tray.recent_menu.actions()]
    assert titles[0] == "Most unusual so far, not yet significant:" and len(titles) == 6
    assert "about 3,999 images" in tray.recent_menu.toolTip()

    win = MainWindow(first_run, bridge, url_opener=lambda url: None)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    win.show_panel("Verification")
    v = win.verification
    qtbot.waitUntil(lambda: v.candidate is not None and len(v.queue) >= 5, timeout=15000)
    normal = []
    for image_id in v.queue:
        task = asyncio.ensure_future(first_run.get_candidate(image_id))
        qtbot.waitUntil(task.done, timeout=10000)
        if task.result().result.verdict is Verdict.NORMAL:
            normal.append(image_id)
    assert normal, "the most unusual normals are in the queue (the rest are near-misses)"
    v.open_candidate(normal[0])
    qtbot.waitUntil(lambda: v.candidate is not None and v.candidate.id == normal[0])
    assert "Most unusual so far, not yet significant" in v.score.text()
    qtbot.waitUntil(lambda: "about 3,999 images" in v.status.text(), timeout=10000)
    save_screenshot(win, "first-run-verification")
    bridge.close()  # no refresh may fire after this test's loop is gone
    tray.icon.hide()
