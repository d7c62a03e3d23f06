"""The Discovery panel over the REAL agent agrees with itself, after a restart too.

The agent here is a fresh process's view of a store a CLI scan filled: exactly what the tray
shows after a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import math

from pytestqt.qtbot import QtBot

from astrolens.app.agent import AgentRuntime
from astrolens.domain.agent import AgentStats, CandidateQuery
from astrolens.domain.scoring import Thresholds, Verdict
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.discovery import DiscoveryPanel
from astrolens.ui.main_window import MainWindow
from tests.ui.fakes import FakeController


def _run(qtbot: QtBot, coro):  # type: ignore[no-untyped-def]
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=30000)
    return task.result()


def test_discovery_counts_rate_and_histogram_agree_after_a_restart(
    qtbot: QtBot, real_window: MainWindow
) -> None:
    d = real_window.discovery
    real_window.show_panel("Discovery")
    qtbot.waitUntil(lambda: d.last_stats is not None, timeout=20000)
    s = d.last_stats
    assert s is not None and s.images_today > 0
    # "Images per hour" counts what the cards count (the scan ran minutes ago)
    assert sum(d.rate.counts) == s.images_today, (d.rate.counts, s.images_today)
    # the histogram reads the store: not empty after a restart
    assert len(d.histogram.values) == len(s.recent_p_values) > 0
    assert "no calibration" not in d.histogram.axis  # the survey group is calibrated
    # plain words under the charts; the technical detail is one hover away
    words = d.calibration.text()
    assert "compared with" in words and "efficientnet" not in words and "v2" not in words
    assert "calibration v" in d.calibration.toolTip()


def test_the_threshold_line_is_the_cut_the_listed_anomalies_were_judged_by(
    qtbot: QtBot, real_window: MainWindow, real_runtime: AgentRuntime
) -> None:
    d = real_window.discovery
    real_window.show_panel("Discovery")
    qtbot.waitUntil(lambda: d.last_stats is not None, timeout=20000)
    s = d.last_stats
    assert s is not None and s.thresholds_in_use is not None and s.anomaly_cut_range is not None
    anomaly_line = next(x for x, _c, text in d.histogram.lines if text.startswith("anomaly"))
    assert math.isclose(anomaly_line, -math.log10(s.thresholds_in_use.anomaly_p))
    # every bar right of the anomaly line is an image the agent called an anomaly
    beyond = sum(1 for p in s.recent_p_values if p <= s.thresholds_in_use.anomaly_p)
    assert beyond <= s.anomalies

    found = _run(qtbot, real_runtime.candidates(CandidateQuery(limit=1000)))
    anomalies = [c.result for c in found if c.result.verdict is Verdict.ANOMALY]
    near = [c.result for c in found if c.result.verdict is Verdict.NEAR_MISS]
    assert anomalies, "the scan found no anomaly to check the line against"
    lo, hi = s.anomaly_cut_range
    for r in anomalies:  # every anomaly listed passed the cut of its own scan
        assert r.thresholds is not None and r.p_value <= r.thresholds.anomaly_p
        assert r.p_value <= hi * (1 + 1e-9)
    # A near-miss with a smaller p than an anomaly is possible only across scans with
    # different cuts, or for a new kind of image held back at near-miss, and then the panel
    # says so in words.
    crossed = near and min(n.p_value for n in near) < max(a.p_value for a in anomalies)
    if crossed:
        assert hi > lo or s.ranked_within_batch > 0
        assert not d.cut_note.isHidden()
        assert "near-miss" in d.cut_note.text()


def test_the_panel_explains_a_cut_that_varied_between_scans(
    qtbot: QtBot, controller: FakeController
) -> None:
    panel = DiscoveryPanel(controller, AgentBridge(controller))
    qtbot.addWidget(panel)
    cut = Thresholds(anomaly_p=0.004, near_miss_p=0.03)
    varied = AgentStats(
        recent_p_values=(0.5, 0.02, 0.003),
        thresholds_in_use=cut,
        anomaly_cut_range=(0.001, 0.004),
    )
    panel.apply_stats(varied)
    assert not panel.cut_note.isHidden()
    assert "near-miss from one scan can have a smaller p" in panel.cut_note.text()
    panel.apply_stats(dataclasses.replace(varied, anomaly_cut_range=(0.004, 0.004)))
    assert panel.cut_note.isHidden()
    # with no calibrated judgement yet there is no cut to draw: raw scores, no lines
    panel.apply_stats(AgentStats(recent_scores=(1.0, 2.0)))
    assert panel.histogram.lines == []
