"""The main views speak in words over the REAL agent; model ids, versions and raw numbers
are one hover away."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from astrolens.ui.main_window import MainWindow

JARGON = ("efficientnet", "calibration v", "for you", "bootstrap", "p≤0")


def test_verification_and_gallery_say_it_in_words(qtbot: QtBot, real_window: MainWindow) -> None:
    real_window.show_panel("Verification")
    v = real_window.verification
    qtbot.waitUntil(lambda: v.candidate is not None, timeout=30000)
    main = v.score.text()
    assert "normal images would score this high" in main
    assert not [j for j in JARGON if j in main], main
    assert "model efficientnet" in v.score.toolTip() and "ensemble score" in v.score.toolTip()

    real_window.show_panel("Gallery")
    g = real_window.gallery
    qtbot.waitUntil(lambda: g.model.rowCount() > 0, timeout=20000)
    g.view.setCurrentIndex(g.model.index(0))
    qtbot.waitUntil(lambda: g.details.candidate is not None, timeout=10000)
    summary = g.details.summary.text()
    assert not [j for j in JARGON if j in summary], summary
    assert "model efficientnet" in g.details.summary.toolTip()

    real_window.show_panel("Discovery")
    d = real_window.discovery
    qtbot.waitUntil(lambda: d.last_stats is not None, timeout=20000)
    assert not [j for j in JARGON if j in d.calibration.text()], d.calibration.text()
