"""The window fits a 1366x768 laptop screen over the REAL agent: every panel, even after long
messages, and a saved geometry larger than the screen is brought back onto it.

Saves a 1366x768 screenshot of every panel (1366-*.png) to artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PyQt6.QtCore import QRect, QSettings
from PyQt6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from astrolens.app.agent import AgentRuntime
from astrolens.domain.crossmatch import CrossMatch, MatchStatus
from astrolens.domain.events import PipelineState, PipelineStateChanged, SourceStatusChanged
from astrolens.domain.labels import Label, LabelValue
from astrolens.domain.sources import SourceState, SourceStatus
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import PANELS, MainWindow
from astrolens.ui.viewer import ImageViewer
from tests.ui.conftest import save_screenshot

SCREEN_W, SCREEN_H = 1366, 768
# What users really saw: an astroquery failure with its whole URL, a path with no spaces.
LONG = (
    "SIMBAD failed: HTTPSConnectionPool(host='simbad.cds.unistra.fr', port=443): Max retries "
    "exceeded with url: /simbad/sim-tap/sync?REQUEST=doQuery&LANG=ADQL&FORMAT=votable&QUERY="
    + "SELECT%20main_id%2C%20ra%2C%20dec%2C%20otype%20FROM%20basic%20WHERE%20" * 12
    + " /home/someone/very/long/"
    + "folder_name_without_spaces_" * 20
    + "image.fits"
)


def _widest(root: QWidget) -> list[tuple[int, str, str]]:
    found = []
    for w in root.findChildren(QWidget):
        text = w.text()[:50] if isinstance(w, QLabel) else ""
        found.append((w.minimumSizeHint().width(), type(w).__name__, text))
    return sorted(found, reverse=True)[:6]


def _fits(widget: QWidget, what: str) -> None:
    hint = widget.minimumSizeHint()
    assert hint.width() <= SCREEN_W, (
        f"{what}: minimum width {hint.width()} > {SCREEN_W}; widest: {_widest(widget)}"
    )
    assert hint.height() <= SCREEN_H, f"{what}: minimum height {hint.height()} > {SCREEN_H}"


def test_every_panel_fits_1366x768_even_after_long_messages(
    qtbot: QtBot, real_window: MainWindow, real_runtime: AgentRuntime
) -> None:
    win = real_window
    v = win.verification
    win.show_panel("Verification")
    qtbot.waitUntil(lambda: v.viewer.shown is not None, timeout=30000)
    for panel in PANELS:
        win.show_panel(panel)
        qtbot.wait(400)
        _fits(win, f"{panel} at first open")

    # Long text everywhere a message can land.
    win.show_message(LONG)
    win.statusBar().showMessage(LONG)
    real_runtime._emit(PipelineStateChanged(PipelineState.ERROR, LONG))
    real_runtime._emit(SourceStatusChanged(SourceStatus("sdss", SourceState.ERROR, LONG)))
    v.status.setText(LONG)
    # a candidate with a long file name, a catalog error and a long note, shown in both views
    cand = v.candidate
    assert cand is not None
    long_name = "anomaly__" + "CFHTLSJ021408.1-053533_SpaceWarps_ASW0002i12_grade3.0" * 4
    noisy = dataclasses.replace(
        cand,
        image=dataclasses.replace(
            cand.image,
            provenance=dataclasses.replace(
                cand.image.provenance, uri=f"file:///data/{long_name}.jpg"
            ),
        ),
        crossmatches=(CrossMatch("simbad", MatchStatus.ERROR, 10.0, reason=LONG),),
        label=Label(cand.id, LabelValue.UNSURE, "me", datetime.now(UTC), note=LONG),
    )
    v.show_candidate(noisy)
    win.gallery.details.show_candidate(noisy)
    v.viewer._placeholder(f"Cannot show this image: {LONG}")
    win.gallery.details.viewer._placeholder(f"Cannot show this image: {LONG}")
    win.settings.status.setText(f"Not saved: {LONG}")
    win.discovery.refresh()  # the sources table now holds the long error
    for panel in PANELS:
        win.show_panel(panel)
        qtbot.wait(400)
        _fits(win, f"{panel} after a long message")
    assert win.width() <= SCREEN_W


def test_screenshots_of_every_panel(qtbot: QtBot, real_window: MainWindow) -> None:
    win = real_window
    win.resize(SCREEN_W, SCREEN_H)
    win.show_panel("Discovery")
    qtbot.wait(1500)
    save_screenshot(win, "1366-discovery")
    win.show_panel("Gallery")
    g = win.gallery
    qtbot.waitUntil(lambda: g.model.rowCount() > 0, timeout=20000)
    g.view.setCurrentIndex(g.model.index(0))
    qtbot.waitUntil(lambda: g.details.viewer.shown is not None, timeout=20000)
    qtbot.wait(1500)
    save_screenshot(win, "1366-gallery")
    win.show_panel("Verification")
    v = win.verification
    qtbot.waitUntil(lambda: len(v.queue) > 0, timeout=30000)
    stamp = next(
        (i for i in v.queue if _is_stamp(qtbot, win, i)), v.queue[0]
    )  # a FITS stamp, as astronomers will mostly see
    v.open_candidate(stamp)
    qtbot.waitUntil(
        lambda: v.viewer.image_id == stamp and v.viewer.shown is not None, timeout=20000
    )
    qtbot.wait(800)
    save_screenshot(win, "1366-verification-fits-stamp")
    win.show_panel("Settings")
    qtbot.wait(300)
    save_screenshot(win, "1366-settings")
    win.show_panel("Training")
    qtbot.wait(800)
    save_screenshot(win, "1366-training")

    # The viewer on its own at screen size, on the whole FITS frame the stamps came from.
    frame_id = _run(qtbot, win.controller._db(_frame_id))  # type: ignore[attr-defined]
    viewer = ImageViewer(win.controller)
    qtbot.addWidget(viewer)
    viewer.resize(SCREEN_W, SCREEN_H)
    viewer.show()
    viewer.show_candidate(frame_id)
    qtbot.waitUntil(lambda: viewer.shown is not None, timeout=20000)
    assert viewer.shown is not None and viewer.shown.kind == "FITS image"
    qtbot.wait(500)
    save_screenshot(viewer, "1366-viewer-fits-frame")


def _frame_id(repo) -> int:  # type: ignore[no-untyped-def]
    for image_id in range(1, 10_000):
        record = repo.get_image(image_id)
        if record is None:
            break
        if record.provenance.uri.endswith("M51.fits"):
            return int(image_id)
    raise AssertionError("the M51 frame is not in the store")


def _run(qtbot: QtBot, coro):  # type: ignore[no-untyped-def]
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=30000)
    return task.result()


def _is_stamp(qtbot: QtBot, win: MainWindow, image_id: int) -> bool:
    task = asyncio.ensure_future(win.controller.get_candidate(image_id))
    qtbot.waitUntil(task.done, timeout=10000)
    cand = task.result()
    return cand is not None and (cand.image.image_path or "").endswith(".npy")


def test_a_saved_geometry_larger_than_the_screen_is_clamped(
    qtbot: QtBot, real_runtime: AgentRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The offscreen platform's screen is 800x600; the user's is a 1366x768 laptop.
    laptop = QRect(0, 0, SCREEN_W, SCREEN_H - 32)  # minus a panel
    monkeypatch.setattr(MainWindow, "available_area", lambda self: laptop)
    state = tmp_path / "window.ini"
    first = MainWindow(real_runtime, AgentBridge(real_runtime), geometry_file=state)
    qtbot.addWidget(first)
    first.show()
    first.setGeometry(QRect(-400, -300, 2750, 1880))  # what the old release saved
    first.close()  # closing to the tray saves the geometry
    assert state.exists()
    assert QSettings(str(state), QSettings.Format.IniFormat).value("geometry")

    again = MainWindow(real_runtime, AgentBridge(real_runtime), geometry_file=state)
    qtbot.addWidget(again)
    again.bring_to_front()  # what the tray's "Open" does
    frame = again.frameGeometry()
    assert again.width() <= laptop.width() and again.height() <= laptop.height(), frame
    assert laptop.contains(frame.topLeft()) and laptop.contains(frame.bottomRight()), frame
