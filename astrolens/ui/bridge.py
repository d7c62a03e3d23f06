"""Domain events in, Qt signals out: widgets connect to signals, never to the controller's
listener list, so a closed widget can't be called back."""

from __future__ import annotations

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from astrolens.domain.agent import AgentController
from astrolens.domain.events import (
    CandidateFound,
    CatalogChecked,
    CycleFinished,
    Event,
    ImageScored,
    PipelineStateChanged,
    Progress,
    ScanFinished,
    ScanProgress,
    SourceStatusChanged,
)


class AgentBridge(QObject):
    state_changed = pyqtSignal(object)  # PipelineStateChanged
    candidate_found = pyqtSignal(object)  # Candidate
    catalog_checked = pyqtSignal(int, object)  # image id, the stored Candidate or None
    progress = pyqtSignal(object)  # Progress
    scan_changed = pyqtSignal(object)  # ScanProgress or ScanFinished: a folder scan's state
    # Many events change the counters; views refresh once per burst, not once per image.
    stats_dirty = pyqtSignal()
    any_event = pyqtSignal(object)

    def __init__(self, controller: AgentController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._coalesce = QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(400)
        self._coalesce.timeout.connect(self._emit_stats_dirty)
        self._unsubscribe = controller.subscribe(self._on_event)
        # When Qt deletes the bridge (its parent window went), stop listening to the agent:
        # a deleted bridge must never be called back, nor its pending timer fire.
        unsubscribe = self._unsubscribe
        self.destroyed.connect(lambda *_: unsubscribe())

    def _emit_stats_dirty(self) -> None:
        self.stats_dirty.emit()

    def _on_event(self, event: Event) -> None:
        self.any_event.emit(event)
        if isinstance(event, PipelineStateChanged):
            self.state_changed.emit(event)
        elif isinstance(event, CandidateFound):
            self.candidate_found.emit(event.candidate)
        elif isinstance(event, CatalogChecked):
            self.catalog_checked.emit(event.image_id, event.candidate)
        elif isinstance(event, Progress):
            self.progress.emit(event)
            return  # progress alone changes no counter
        elif isinstance(event, ScanProgress):
            self.scan_changed.emit(event)
            return
        elif isinstance(event, ScanFinished):
            self.scan_changed.emit(event)
        if (
            isinstance(
                event,
                PipelineStateChanged
                | CandidateFound
                | CatalogChecked
                | CycleFinished
                | ScanFinished
                | ImageScored
                | SourceStatusChanged,
            )
            and not self._coalesce.isActive()
        ):
            self._coalesce.start()

    def close(self) -> None:
        self._coalesce.stop()
        self._unsubscribe()
