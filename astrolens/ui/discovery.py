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
from astrolens.domain.sources import SourceState
from astrolens.ui import theme
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.charts import RatePlot, ScoreHistogram
from astrolens.ui.tasks import spawn

STATE_COLOUR = {
    SourceState.ACTIVE: theme.GOOD,
    SourceState.IDLE: theme.MUTED,
    SourceState.EXHAUSTED: theme.MUTED,
    SourceState.DISABLED: "#475569",
    SourceState.OFFLINE: theme.NEAR_MISS,
    SourceState.UNAVAILABLE: theme.NEAR_MISS,
    SourceState.ERROR: theme.BAD,
}


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
        self.state_label = QLabel()
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
        head.addWidget(self.state_label)
        head.addStretch(1)
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
        self.calibration = QLabel()
        self.calibration.setObjectName("muted")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 14, 18, 14)
        lay.setSpacing(12)
        lay.addLayout(head)
        lay.addWidget(self.scan_status)
        lay.addLayout(grid)
        lay.addLayout(charts, 2)
        lay.addWidget(self.sources, 1)
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
        cal = s.calibrations[0] if s.calibrations else None
        if cal is not None and s.recent_p_values:
            self.histogram.set_p_values(
                s.recent_p_values, cal.thresholds.anomaly_p, cal.thresholds.near_miss_p
            )
        else:
            self.histogram.set_scores(s.recent_scores)
        self.sources.setRowCount(len(s.sources))
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
                if col == 1:
                    item.setForeground(QColor(STATE_COLOUR.get(src.state, theme.TEXT)))
                self.sources.setItem(row, col, item)
        self.sources.resizeColumnsToContents()
        self.calibration.setText(
            "; ".join(
                f"calibration v{c.version} ({c.group}, {c.model_id}): {c.reference_size:,} "
                f"reference images, FDR {c.fdr:g}, anomaly p≤{c.thresholds.anomaly_p:g}"
                + (" — bootstrap" if c.bootstrap else "")
                for c in s.calibrations
            )
            or "not calibrated yet: the first cycle scores images against each other"
        )

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
