"""The discovery panel: live counters, rate plot, score histogram, sources, Start/Pause."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from astrolens.domain.agent import AgentController, AgentStats
from astrolens.domain.events import PipelineState, Progress, ScanFinished, ScanProgress
from astrolens.domain.scoring import Calibration
from astrolens.domain.sources import SourceState
from astrolens.ui import theme
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.charts import RatePlot, ScoreHistogram
from astrolens.ui.tasks import spawn
from astrolens.ui.widgets import ElidedLabel

GROUP_TEXT = {
    "survey": "Survey cutouts",
    "picture": "Pictures and frames",
    "transient": "Transients",
}

STATE_COLOUR = {
    SourceState.ACTIVE: theme.GOOD,
    SourceState.IDLE: theme.MUTED,
    SourceState.EXHAUSTED: theme.MUTED,
    SourceState.DISABLED: "#475569",
    SourceState.OFFLINE: theme.NEAR_MISS,
    SourceState.UNAVAILABLE: theme.NEAR_MISS,
    SourceState.ERROR: theme.BAD,
}


def calibration_words(calibrations: tuple[Calibration, ...]) -> tuple[str, str]:
    """(what the user reads, the detail for the tooltip). Model ids, versions and
    thresholds are for whoever wants them, one hover away."""
    if not calibrations:
        return (
            "Not calibrated yet: the first images are scored against each other.",
            "",
        )
    words, detail = [], []
    for c in calibrations:
        group = GROUP_TEXT.get(c.group, c.group.capitalize())
        if c.bootstrap:
            words.append(
                f"{group}: still learning what normal looks like"
                f" ({c.reference_size:,} reference images so far)"
            )
        else:
            words.append(
                f"{group}: compared with {c.reference_size:,} normal images,"
                f" at most {c.fdr:.0%} false alarms"
            )
        detail.append(
            f"{group}: calibration v{c.version}, model {c.model_id}, {c.reference_size:,}"
            f" reference images, FDR {c.fdr:g}, first anomaly cut p ≤ {c.thresholds.anomaly_p:g}"
            + (" (bootstrap: too few reference images to calibrate)" if c.bootstrap else "")
        )
    return " · ".join(words) + ".", "\n".join(detail)


def _card(title: str) -> tuple[QFrame, QLabel]:
    frame = QFrame()
    frame.setObjectName("card")
    value = QLabel("–")
    value.setObjectName("counter")
    caption = QLabel(title)
    caption.setObjectName("counterCaption")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(14, 10, 14, 10)
    lay.addWidget(value)
    lay.addWidget(caption)
    return frame, value


class DiscoveryPanel(QWidget):
    """Refreshes from the bridge's coalesced `stats_dirty`, never on a timer."""

    def __init__(self, controller: AgentController, bridge: AgentBridge) -> None:
        super().__init__()
        self.controller = controller
        self.state_label = ElidedLabel()
        self.state_label.setObjectName("heading")
        self.toggle = QPushButton("Pause")
        self.toggle.setObjectName("primary")
        self.toggle.clicked.connect(self._toggle)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(16)
        self.progress.hide()
        # A folder scan's "Scanning 64/365", then its summary ("Scanned folder demo: …").
        self.scan_status = QLabel()
        self.scan_status.setObjectName("muted")
        self.scan_status.setWordWrap(True)
        self.scan_status.hide()

        head = QHBoxLayout()
        head.addWidget(self.state_label, 1)  # takes the room; a long message elides
        head.addWidget(self.progress)
        head.addWidget(self.toggle)

        self.counters: dict[str, QLabel] = {}
        grid = QGridLayout()
        for i, (key, title) in enumerate(
            (
                ("images_today", "images today"),
                ("images_total", "images in total"),
                ("anomalies", "anomalies"),
                ("near_misses", "near-misses"),
                ("unlabelled_anomalies", "waiting for review"),
            )
        ):
            frame, value = _card(title)
            self.counters[key] = value
            grid.addWidget(frame, 0, i)

        self.rate = RatePlot()
        self.histogram = ScoreHistogram()
        charts = QHBoxLayout()
        charts.addWidget(self.rate, 1)
        charts.addWidget(self.histogram, 1)

        self.sources = QTableWidget(0, 5)
        self.sources.setHorizontalHeaderLabels(["Source", "State", "Fetched", "Failed", "Detail"])
        self.sources.verticalHeader().setVisible(False)
        self.sources.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.sources.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.sources.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.sources.setAlternatingRowColors(True)
        self.sources_hint = QLabel(
            "No source has run since AstroLens started: press Start to fetch new images, or"
            " scan a folder from the tray menu."
        )
        self.sources_hint.setObjectName("muted")
        self.sources_hint.setWordWrap(True)
        self.calibration = QLabel()
        self.calibration.setObjectName("muted")
        self.calibration.setWordWrap(True)  # one line per group made the window 1880 px wide
        # Why a near-miss can have a smaller p than an anomaly: said in words under the chart.
        self.cut_note = QLabel()
        self.cut_note.setObjectName("muted")
        self.cut_note.setWordWrap(True)
        self.cut_note.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 14, 18, 14)
        lay.setSpacing(12)
        lay.addLayout(head)
        lay.addWidget(self.scan_status)
        lay.addLayout(grid)
        lay.addLayout(charts, 2)
        lay.addWidget(self.cut_note)
        lay.addWidget(self.sources, 1)
        lay.addWidget(self.sources_hint)
        lay.addWidget(self.calibration)

        bridge.stats_dirty.connect(self.refresh)
        bridge.state_changed.connect(lambda ev: self._show_state(ev.state, ev.message))
        bridge.progress.connect(self._on_progress)
        bridge.scan_changed.connect(self._on_scan)
        self._show_state(controller.state)
        self.last_stats: AgentStats | None = None

    def refresh(self) -> None:
        spawn(self._refresh(), name="discovery-refresh")

    async def _refresh(self) -> None:
        self.apply_stats(await self.controller.stats())

    def apply_stats(self, s: AgentStats) -> None:
        self.last_stats = s
        for key, label in self.counters.items():
            label.setText(f"{getattr(s, key):,}")
        self._show_state(s.state)
        self.rate.set_counts(s.hourly_counts)
        # The lines are the cut the latest judgement really used (the FDR procedure sets it
        # per scan), not the calibration's first threshold: otherwise the anomalies listed sat
        # far left of the "anomaly" line.
        cut = s.thresholds_in_use
        if cut is None and s.calibrations and not s.calibrations[0].bootstrap:
            cut = s.calibrations[0].thresholds
        if cut is not None and cut.anomaly_p > 0 and s.recent_p_values:
            self.histogram.set_p_values(s.recent_p_values, cut.anomaly_p, cut.near_miss_p)
        else:
            self.histogram.set_scores(s.recent_scores)
        lo_hi = s.anomaly_cut_range
        notes = []
        if lo_hi is not None and lo_hi[1] > lo_hi[0] * 1.01:
            notes.append(
                f"The anomaly cut adapts to each scan (it keeps false alarms at the chosen rate):"
                f" recently between p ≤ {lo_hi[0]:.2g} and p ≤ {lo_hi[1]:.2g}. So a near-miss"
                " from one scan can have a smaller p than an anomaly from another."
            )
        if s.ranked_within_batch:
            notes.append(
                f"{s.ranked_within_batch:,} near-miss(es) were ranked within their own batch (a"
                " first scan, or a new kind of image with no reference of its own yet): not"
                " called anomalies until enough of their kind is stored, so their p can be"
                " smaller than an anomaly's."
            )
        self.cut_note.setText(" ".join(notes))
        self.cut_note.setVisible(bool(notes))
        self.sources.setRowCount(len(s.sources))
        self.sources_hint.setVisible(not s.sources)
        for row, src in enumerate(s.sources):
            items = [
                src.source_id + ("  ◀ now" if src.source_id == s.current_source else ""),
                src.state.value,
                f"{src.fetched:,}",
                f"{src.failed:,}",
                src.describe(),
            ]
            for col, text in enumerate(items):
                item = QTableWidgetItem(text)
                item.setToolTip(text if col == 4 else "")  # a long error: whole on hover
                if col == 1:
                    item.setForeground(QColor(STATE_COLOUR.get(src.state, theme.TEXT)))
                self.sources.setItem(row, col, item)
        for col in range(4):  # the detail column stretches; its long text elides
            self.sources.resizeColumnToContents(col)
        words, detail = calibration_words(s.calibrations)
        self.calibration.setText(words)
        self.calibration.setToolTip(detail)

    def _show_state(self, state: PipelineState, message: str = "") -> None:
        self.state_label.setText(f"Discovery: {state.value}" + (f" — {message}" if message else ""))
        paused = state in (PipelineState.PAUSED, PipelineState.STOPPED)
        self.toggle.setText("Start" if paused else "Pause")

    def _toggle(self) -> None:
        if self.controller.state in (PipelineState.PAUSED, PipelineState.STOPPED):
            self.controller.resume()
        else:
            self.controller.pause()

    def _on_scan(self, ev: ScanProgress | ScanFinished) -> None:
        self.scan_status.setText(ev.text())
        self.scan_status.show()

    def _on_progress(self, ev: Progress) -> None:
        if ev.total <= 0 or ev.done >= ev.total:
            self.progress.hide()
            return
        self.progress.show()
        self.progress.setMaximum(ev.total)
        self.progress.setValue(ev.done)
        self.progress.setFormat(f"{ev.stage} %v/%m")
