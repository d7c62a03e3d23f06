"""Opening a candidate from a notification starts the review there, with a way back; a
folder scan's progress and summary show in the tray and in Discovery."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from astrolens.ui.tray import TrayAgent
from tests.ui.conftest import save_screenshot
from tests.ui.fakes import FakeController


def test_a_notification_starts_the_review_at_its_candidate_with_a_way_back(
    qtbot: QtBot, controller: FakeController
) -> None:
    bridge = AgentBridge(controller)
    win = MainWindow(controller, bridge, url_opener=lambda url: None)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    win.show_panel("Verification")
    v = win.verification
    qtbot.waitUntil(lambda: v.candidate is not None and len(v.queue) > 10)
    reviewing = v.candidate.id
    assert not v.back.isVisible()
    # The one a notification names: far down the queue (it was shown as "55 of 114").
    deep = v.queue[len(v.queue) // 2]

    win.open_candidate(deep)
    qtbot.waitUntil(lambda: v.candidate is not None and v.candidate.id == deep)
    qtbot.waitUntil(lambda: v.where.text() == f"1 of {len(v.queue)}")
    assert v.queue[0] == deep and v.back.isVisible()
    save_screenshot(win, "verification-from-notification")

    v.back.click()
    qtbot.waitUntil(lambda: v.candidate is not None and v.candidate.id == reviewing)
    assert not v.back.isVisible()
    assert v.where.text().startswith(f"{v.queue.index(reviewing) + 1} of ")
    bridge.close()  # no refresh may fire after this test's loop is gone


def test_a_folder_scan_shows_progress_and_a_summary_in_the_tray_and_discovery(
    qtbot: QtBot, controller: FakeController, demo_dir: Path
) -> None:
    bridge = AgentBridge(controller)
    tray = TrayAgent()
    tray.attach(controller, bridge)
    win = MainWindow(controller, bridge, url_opener=lambda url: None)
    qtbot.addWidget(win)
    tips: list[str] = []
    bridge.scan_changed.connect(lambda ev: tips.append(tray.icon.toolTip()))
    controller.scan_folder(demo_dir)
    qtbot.waitUntil(lambda: any("Scanning 3/" in t for t in tips), timeout=20000)
    assert tray.status_action.text().startswith("AstroLens — Scanning")
    assert "idle" not in tray.status_action.text()
    qtbot.waitUntil(lambda: "Scanned folder demo" in tray.icon.toolTip(), timeout=60000)
    summary = win.discovery.scan_status.text()
    assert summary.startswith("Scanned folder demo:") and "files" in summary
    assert tray.status_action.text() == f"AstroLens — {summary}"
    bridge.close()  # no refresh may fire after this test's loop is gone
    tray.icon.hide()
