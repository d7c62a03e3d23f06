"""The window's panels over the fake controller and real demo images, with screenshots."""

from __future__ import annotations

import logging

import keyring
from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from astrolens.domain.crossmatch import CatalogVerdict, MatchStatus
from astrolens.domain.events import PipelineState
from astrolens.domain.labels import LabelValue
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from tests.ui.conftest import save_screenshot
from tests.ui.fakes import FakeController


def _window(qtbot: QtBot, controller: FakeController, opened: list[str]) -> MainWindow:
    bridge = AgentBridge(controller)
    win = MainWindow(controller, bridge, url_opener=opened.append)
    qtbot.addWidget(win)
    win.resize(1280, 820)
    win.show()
    return win


def test_discovery_panel_shows_counters_charts_and_sources(
    qtbot: QtBot, controller: FakeController
) -> None:
    win = _window(qtbot, controller, [])
    panel = win.discovery
    qtbot.waitUntil(lambda: panel.last_stats is not None)
    assert panel.counters["anomalies"].text() == str(panel.last_stats.anomalies)
    assert panel.sources.rowCount() == 5
    assert [x for x, _, _ in panel.histogram.lines]  # thresholds drawn on the p axis
    assert panel.toggle.text() == "Pause"
    panel.toggle.click()
    assert controller.state is PipelineState.PAUSED
    qtbot.waitUntil(lambda: panel.toggle.text() == "Start")
    qtbot.wait(50)
    save_screenshot(win, "discovery")


def test_gallery_filters_selection_viewer_and_neighbours(
    qtbot: QtBot, controller: FakeController
) -> None:
    opened: list[str] = []
    win = _window(qtbot, controller, opened)
    win.show_panel("Gallery")
    g = win.gallery
    qtbot.waitUntil(lambda: g.model.rowCount() > 10)
    qtbot.waitUntil(lambda: len(g.model.thumbnails) >= 10, timeout=5000)
    # Highest score first.
    scores = [g.model.candidate_at(r).result.score for r in range(g.model.rowCount())]
    assert scores == sorted(scores, reverse=True)
    # A candidate with a sky position: the details show its detector scores and links.
    row = next(r for r in range(g.model.rowCount()) if g.model.candidate_at(r).image.provenance.sky)
    g.view.setCurrentIndex(g.model.index(row))
    d = g.details
    qtbot.waitUntil(lambda: "×" in d.viewer.status.text(), timeout=5000)
    qtbot.waitUntil(lambda: d.neighbours.count() == 8)
    assert d.detectors.rowCount() == 4
    assert "simbad.cds.unistra.fr" in d.sky.text()
    d.sky.linkActivated.emit("https://simbad.cds.unistra.fr/simbad/sim-coo?Coord=1")
    assert opened and opened[0].startswith("https://simbad")
    qtbot.wait(300)  # neighbour icons
    save_screenshot(win, "gallery")
    # The viewer: zoom in, switch stretch, then screenshot it alone.
    d.viewer.resize(700, 600)
    d.viewer.stretch.setCurrentText("log")
    qtbot.waitUntil(lambda: "log" in d.viewer.status.text(), timeout=5000)
    before = d.viewer.view.zoom
    d.viewer.view.zoom_by(2.0)
    assert d.viewer.view.zoom > before
    save_screenshot(d.viewer, "viewer")

    # Filters reach the controller: only unlabelled near-misses.
    g.verdict.setCurrentIndex(2)
    qtbot.waitUntil(
        lambda: (
            g.model.rowCount() > 0
            and all(
                g.model.candidate_at(r).result.verdict.value == "near_miss"
                for r in range(g.model.rowCount())
            )
        )
    )
    g.catalog.setCurrentIndex(g.catalog.findData(CatalogVerdict.INCOMPLETE))
    qtbot.waitUntil(
        lambda: all(
            g.model.candidate_at(r).catalog_verdict is CatalogVerdict.INCOMPLETE
            for r in range(g.model.rowCount())
        )
    )


def test_verification_is_keyboard_driven(qtbot: QtBot, controller: FakeController) -> None:
    opened: list[str] = []
    win = _window(qtbot, controller, opened)
    # The candidate whose NED query failed: the panel must say so and offer a retry.
    failed = next(
        c for c in controller.base if any(x.status is MatchStatus.ERROR for x in c.crossmatches)
    )
    win.open_candidate(failed.id)
    v = win.verification
    qtbot.waitUntil(lambda: v.candidate is not None and v.candidate.id == failed.id)
    qtbot.waitUntil(lambda: len(v.queue) > 3)
    states = [v.services.item(r, 1).text() for r in range(v.services.rowCount())]
    assert "error" in states
    assert "unreachable" in v.services.item(states.index("error"), 3).text()
    assert "incomplete" in v.verdict.text().lower()
    # what the promoted heads say about it (here a Galaxy10 morphology head)
    qtbot.waitUntil(lambda: "Galaxy10_DECals (run 3): merging 71 %" in v.predictions.text())

    v.simbad.click()
    v.ned.click()
    assert opened[0].startswith("https://simbad.cds.unistra.fr/simbad/sim-coo?Coord=")
    assert opened[1].startswith("https://ned.ipac.caltech.edu/conesearch?")

    v.setFocus()
    qtbot.keyClick(v, Qt.Key.Key_T)
    qtbot.waitUntil(lambda: any(c[0] == "label" for c in controller.calls))
    label_call = next(c for c in controller.calls if c[0] == "label")
    assert label_call[1][:2] == (failed.id, LabelValue.TRUE_POSITIVE)
    qtbot.waitUntil(lambda: v.candidate.id != failed.id)  # moved on to the next one
    second = v.candidate.id

    # Typing a note: letters go into the field, not to the shortcuts.
    v.note.setFocus()
    qtbot.keyClicks(v.note, "Tidal tail, faint")
    assert v.note.text() == "Tidal tail, faint"
    assert sum(1 for c in controller.calls if c[0] == "label") == 1
    qtbot.keyClick(v.note, Qt.Key.Key_Return)  # unlabelled: asks for T/F/U first
    assert "Press T, F or U" in v.status.text()
    v.setFocus()
    qtbot.keyClick(v, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: sum(1 for c in controller.calls if c[0] == "label") == 2)
    last = [c for c in controller.calls if c[0] == "label"][-1][1]
    assert last == (second, LabelValue.FALSE_POSITIVE, "Tidal tail, faint", "ui")

    # P / ← go back; the earlier label shows.
    qtbot.waitUntil(lambda: v.candidate.id != second)
    qtbot.keyClick(v, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: v.candidate.id == second)
    assert "False positive" in v.score.text()

    # Retry: the catalogs are asked again (offline here, so errors come back with reasons).
    win.open_candidate(failed.id)
    qtbot.waitUntil(lambda: v.candidate.id == failed.id)
    v.retry.click()
    qtbot.waitUntil(lambda: ("retry", failed.id) in controller.calls)
    qtbot.waitUntil(
        lambda: (
            [v.services.item(r, 1).text() for r in range(v.services.rowCount())].count("error") == 3
        ),
        timeout=3000,
    )
    # Back to a candidate with real matches for the screenshot.
    matched = next(c for c in controller.base if c.catalog_verdict is CatalogVerdict.KNOWN_OBJECT)
    win.open_candidate(matched.id)
    qtbot.waitUntil(lambda: v.candidate.id == matched.id and v.matches.rowCount() == 2)
    assert v.matches.item(0, 0).text().startswith(("SDSS", "LEDA"))
    qtbot.waitUntil(lambda: "×" in v.viewer.status.text(), timeout=5000)
    save_screenshot(win, "verification")


def test_settings_round_trip_and_keys_never_go_to_a_plaintext_keyring(
    qtbot: QtBot, controller: FakeController, keyring_file, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    win = _window(qtbot, controller, [])
    win.show_panel("Settings")
    s = win.settings
    # keyrings.alt's file backend is what keyring falls back to without a Secret Service: it
    # would keep the key unencrypted, so Settings says so and stores nothing (issue 16, item 8).
    assert "plain-text file" in s.keyring_status.text()
    assert "Keys are not stored" in s.keyring_status.text()
    assert "PlaintextKeyring" in s.keyring_status.toolTip()
    s.interval.setValue(120)
    s.aggressive.setChecked(True)
    s.sources.item(0, 2).setText("0.5")
    saved: list[object] = []
    s.settings_saved.connect(saved.append)
    s.save_button.click()
    qtbot.waitUntil(lambda: bool(saved))
    got = controller.settings()
    assert got.interval_s == 120 and got.aggressive
    first = sorted(got.sources)[0]
    assert got.sources[first].rate_per_s == 0.5

    s.sources.item(0, 2).setText("fast")
    s.save_button.click()
    assert "must be a number" in s.status.text()

    secret = "nasa-KEY-0123456789"
    s.keys["nasa_api_key"].setText(secret)
    s.store_secret("nasa_api_key")
    assert keyring.get_password("AstroLens", "nasa_api_key") is None
    assert s.keys["nasa_api_key"].text() == ""  # never shown back
    assert "Could not store the key" in s.status.text()
    assert "unencrypted" in s.status.text()
    assert secret not in caplog.text
    assert not keyring_file.exists()  # nothing written in plain text
    save_screenshot(win, "settings")
