"""The tray icon: state at a glance, a live tooltip, and the agent's menu."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu, QSystemTrayIcon

from astrolens.domain.agent import AgentController, AgentStats, CandidateQuery
from astrolens.domain.candidates import Candidate
from astrolens.domain.events import PipelineState, ScanFinished, ScanProgress
from astrolens.domain.scoring import Verdict
from astrolens.domain.sources import SourceState
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.icons import TrayState, tray_icon
from astrolens.ui.tasks import spawn

log = logging.getLogger(__name__)
RECENT = 5


def tray_state(state: PipelineState | None, stats: AgentStats | None) -> TrayState:
    if state is None:
        return TrayState.STARTING
    if state is PipelineState.ERROR:
        return TrayState.ERROR
    if state in (PipelineState.PAUSED, PipelineState.STOPPED):
        return TrayState.PAUSED
    if stats is not None:
        live = [s for s in stats.sources if s.state is not SourceState.DISABLED]
        if live and all(s.state in (SourceState.OFFLINE, SourceState.UNAVAILABLE) for s in live):
            return TrayState.OFFLINE
    return TrayState.RUNNING


def tooltip_text(
    state: PipelineState | None, stats: AgentStats | None, message: str = "", scan: str = ""
) -> str:
    """`scan`: a folder scan's progress ("Scanning 64/365 (folder demo)") or its summary;
    it leads, so the tray never says "idle" while a scan runs."""
    if state is None:
        return "AstroLens — starting…" + (f"\n{message}" if message else "")
    if scan:
        lines = [f"AstroLens — {scan}"]
        if state is PipelineState.PAUSED:
            lines[0] += " (paused)"
    else:
        lines = [f"AstroLens — {state.value}" + (f": {message}" if message else "")]
    if stats is not None:
        lines.append(f"{stats.images_today:,} images today · {stats.anomalies:,} anomalies")
        if stats.unlabelled_anomalies:
            lines.append(f"{stats.unlabelled_anomalies:,} waiting for review")
        if stats.current_source:
            lines.append(f"source: {stats.current_source}")
    return "\n".join(lines)


class TrayAgent(QObject):
    """Built before the controller exists (so the icon shows at once); `attach` wires it."""

    open_window = pyqtSignal()
    open_candidate = pyqtSignal(int)
    open_settings = pyqtSignal()
    scan_folder = pyqtSignal()
    quit_requested = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller: AgentController | None = None
        self.state: PipelineState | None = None
        self.stats: AgentStats | None = None
        self.message = ""
        self.scan = ""  # a folder scan's progress, then its summary
        self.icon = QSystemTrayIcon(tray_icon(TrayState.STARTING), self)
        self.menu = QMenu()
        self.status_action = QAction("Starting…", self.menu)
        self.status_action.setEnabled(False)
        self.pause_action = QAction("Pause", self.menu)
        self.pause_action.triggered.connect(self.toggle_pause)
        self.open_action = QAction("Open AstroLens", self.menu)
        self.open_action.triggered.connect(self.open_window.emit)
        self.recent_menu = QMenu("Recent anomalies", self.menu)
        self.scan_action = QAction("Scan a folder…", self.menu)
        self.scan_action.triggered.connect(self.scan_folder.emit)
        self.settings_action = QAction("Settings…", self.menu)
        self.settings_action.triggered.connect(self.open_settings.emit)
        self.quit_action = QAction("Quit AstroLens", self.menu)
        self.quit_action.triggered.connect(self.quit_requested.emit)
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.menu.addAction(self.pause_action)
        self.menu.addAction(self.open_action)
        self.menu.addMenu(self.recent_menu)
        self.menu.addAction(self.scan_action)
        self.menu.addAction(self.settings_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        for a in (self.pause_action, self.open_action, self.scan_action, self.settings_action):
            a.setEnabled(False)
        self.recent_menu.setEnabled(False)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self._update()

    def show(self) -> None:
        self.icon.show()

    def attach(self, controller: AgentController, bridge: AgentBridge) -> None:
        self.controller = controller
        self.state = controller.state
        for a in (self.pause_action, self.open_action, self.scan_action, self.settings_action):
            a.setEnabled(True)
        self.recent_menu.setEnabled(True)
        bridge.state_changed.connect(self._state_changed)
        bridge.stats_dirty.connect(self.refresh)
        bridge.scan_changed.connect(self._scan_changed)
        self._update()
        self.refresh()

    def set_failed(self, message: str) -> None:
        """The agent could not start: say so in the icon and the tooltip."""
        self.state = PipelineState.ERROR
        self.message = message
        self.open_action.setEnabled(True)
        self._update()

    def refresh(self) -> None:
        if self.controller is not None:
            spawn(self._refresh(self.controller), name="tray-refresh")

    async def _refresh(self, controller: AgentController) -> None:
        self.stats = await controller.stats()
        recent = await controller.candidates(
            CandidateQuery(verdicts=(Verdict.ANOMALY,), order_by="newest", limit=RECENT)
        )
        unusual: list[Candidate] = []
        if not recent:  # a first run: the most unusual so far, said as such
            unusual = await controller.candidates(
                CandidateQuery(
                    verdicts=(Verdict.NEAR_MISS, Verdict.NORMAL), order_by="score", limit=RECENT
                )
            )
        self._fill_recent(recent, unusual)
        self._update()

    def _fill_recent(self, recent: list[Candidate], unusual: list[Candidate] | None = None) -> None:
        from astrolens.domain.agent import recent_anomalies_title
        from astrolens.domain.scoring import not_yet_significant

        self.recent_menu.clear()
        self.recent_menu.setTitle("Recent anomalies")
        if not recent and unusual:
            self.recent_menu.setTitle("Most unusual so far")
            head = self.recent_menu.addAction("Most unusual so far, not yet significant:")
            if head is not None:
                head.setEnabled(False)
            cals = self.stats.calibrations if self.stats else ()
            reference = max((c.reference_size for c in cals), default=0)
            note = not_yet_significant(reference, cals[0].fdr if cals else 0.05)
            self.recent_menu.setToolTip(note)
            self.recent_menu.setToolTipsVisible(True)
            recent = unusual
        elif not recent:
            none = self.recent_menu.addAction("None yet")
            if none is not None:
                none.setEnabled(False)
            return
        for cand, title in zip(recent, recent_anomalies_title(recent), strict=True):
            action = self.recent_menu.addAction(title)
            if action is not None:
                action.triggered.connect(_emitter(self.open_candidate.emit, cand.id))
                if cand.result.verdict is not Verdict.ANOMALY:
                    action.setToolTip(self.recent_menu.toolTip())

    def _state_changed(self, event) -> None:  # type: ignore[no-untyped-def]
        self.state = event.state
        self.message = event.message
        self._update()

    def _scan_changed(self, event: ScanProgress | ScanFinished) -> None:
        self.scan = event.text()
        self._update()

    def toggle_pause(self) -> None:
        c = self.controller
        if c is None:
            return
        if c.state in (PipelineState.PAUSED, PipelineState.STOPPED):
            c.resume()
        else:
            c.pause()
        self.state = c.state
        self._update()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.open_window.emit()

    @property
    def badge(self) -> int:
        return self.stats.unlabelled_anomalies if self.stats else 0

    def _update(self) -> None:
        ts = tray_state(self.state, self.stats)
        self.tray_state = ts
        self.icon.setIcon(tray_icon(ts, self.badge))
        tip = tooltip_text(self.state, self.stats, self.message, self.scan)
        self.icon.setToolTip(tip)
        self.status_action.setText(tip.splitlines()[0])
        paused = self.state in (PipelineState.PAUSED, PipelineState.STOPPED)
        self.pause_action.setText("Resume" if paused else "Pause")


def _emitter(fn: Callable[[int], None], value: int) -> Callable[[], None]:
    return lambda: fn(value)
