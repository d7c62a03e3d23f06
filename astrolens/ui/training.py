"""Training history: one row per fine-tuning run, with its measured change, and the controls
to start or cancel a run. Sees only the domain's LearningController and TrainingRun."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from astrolens.domain.events import Event, Progress, TrainingEnded
from astrolens.domain.learning import TRAINING_STAGE, LearningController, TrainingRequest
from astrolens.domain.records import TrainingRun, TrainingStatus
from astrolens.ui.tasks import spawn

COLUMNS = ("Run", "Started", "Data", "Trained", "Status", "Before", "After", "Change", "Kept")
METRIC = "balanced_accuracy"


def change_text(run: TrainingRun) -> str:
    """'+4.9 pt': the measured change on held-out labels, or '' when there is none."""
    before, after = run.metrics_before.get(METRIC), run.metrics_after.get(METRIC)
    if before is None or after is None:
        return ""
    return f"{100 * (after - before):+.1f} pt"


def summary_text(runs: list[TrainingRun]) -> str:
    kept = [r for r in runs if r.promoted]
    if not runs:
        return "No training runs yet. Label candidates, then train on your labels."
    latest_run = max(runs, key=lambda r: r.id)
    if latest_run.status is TrainingStatus.FAILED:
        why = str(latest_run.parameters.get("error", "")) or "no reason recorded"
        return f"Run {latest_run.id} did not finish: {why}. The current model is unchanged."
    if not kept:
        return f"{len(runs)} run(s); none beat the current model on held-out labels."
    latest = max(kept, key=lambda r: r.id)
    n = int(latest.metrics_after.get("n", 0))
    backbone = f" Backbone: {latest.new_model}." if latest.new_model else ""
    return (
        f"Current model: run {latest.id}, balanced accuracy "
        f"{latest.metrics_after.get(METRIC, 0):.3f} ({change_text(latest)} on {n} held-out labels)."
        + backbone
    )


def trained_text(run: TrainingRun) -> str:
    """What the run trained: the head only, or the head and the backbone's last blocks."""
    blocks = int(run.parameters.get("backbone_blocks", 0) or 0)
    return f"head + {blocks} blocks" if blocks else "head"


class TrainingPanel(QWidget):
    runs_loaded = pyqtSignal(int)

    def __init__(
        self,
        controller: LearningController,
        subscribe: Callable[[Callable[[Event], None]], Callable[[], None]] | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.train_button = QPushButton("Train on my labels")
        self.cancel_button = QPushButton("Cancel run")
        self.refresh_button = QPushButton("Refresh")
        # 0 trains the head only (seconds); N > 0 also the backbone's last N blocks (minutes,
        # and a winning run changes the model, so the archive is re-embedded)
        self.blocks = QSpinBox()
        self.blocks.setRange(0, 4)
        self.blocks.setPrefix("Also retrain the image model's last blocks: ")
        self.blocks.setSpecialValueText("Quick: learn from my labels only")
        self.blocks.setToolTip(
            "Also fine-tune the backbone's last blocks. If the new backbone beats the current"
            " model on held-out labels it becomes the model and the archive is re-embedded."
        )
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button.clicked.connect(self.cancel_training)
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.blocks, self.cancel_button, self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.table, 1)
        self._unsubscribe = subscribe(self._on_event) if subscribe is not None else None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        active = self.controller.training_active
        self.train_button.setEnabled(not active)
        self.cancel_button.setEnabled(active)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TrainingEnded):  # failed and cancelled runs send no 100 %
            self.refresh()
        elif isinstance(event, Progress) and event.stage == TRAINING_STAGE:
            self.progress.show()
            self.progress.setValue(event.done)
            if event.done >= event.total:
                self.refresh()

    def start_training(self) -> None:
        self.controller.train(TrainingRequest(backbone_blocks=self.blocks.value()))
        self.progress.setValue(0)
        self.progress.show()
        self._sync_buttons()

    def cancel_training(self) -> None:
        self.controller.cancel_training()
        self.refresh()

    def refresh(self) -> None:
        spawn(self.load(), name="training-runs")

    async def load(self) -> None:
        runs = await self.controller.training_runs()
        self.show_runs(runs)

    def show_runs(self, runs: list[TrainingRun]) -> None:
        self.table.setRowCount(len(runs))
        for row, run in enumerate(runs):
            before, after = run.metrics_before.get(METRIC), run.metrics_after.get(METRIC)
            cells = (
                str(run.id),
                run.started_at.strftime("%Y-%m-%d %H:%M"),
                run.data_description,
                trained_text(run),
                run.status.value,
                "" if before is None else f"{before:.3f}",
                "" if after is None else f"{after:.3f}",
                change_text(run),
                "yes" if run.promoted else "no",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if run.parameters.get("error"):
                    item.setToolTip(str(run.parameters["error"]))
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()  # dates and model names are read whole
        self.summary.setText(summary_text(runs))
        if not any(r.status is TrainingStatus.RUNNING for r in runs):
            self.progress.hide()
        self._sync_buttons()
        self.runs_loaded.emit(len(runs))
