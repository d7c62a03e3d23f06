"""The training-history view: one row per run with its measured change; Train starts a run."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from tests.ui.conftest import SCREENSHOTS
from tests.ui.fakes import FakeController


def test_training_panel_lists_runs_and_trains(qtbot: QtBot, controller: FakeController) -> None:
    win = MainWindow(controller, AgentBridge(controller), url_opener=lambda _url: None)
    qtbot.addWidget(win)
    win.show()
    panel = win.training
    with qtbot.waitSignal(panel.runs_loaded, timeout=5000):
        win.show_panel("Training")
    assert panel.table.rowCount() == 0
    assert "No training runs yet" in panel.summary.text()

    with qtbot.waitSignal(panel.runs_loaded, timeout=5000):
        panel.train_button.click()  # the fake finishes at once and sends Progress 1000/1000
    assert ("train", controller.calls[-1][1]) in controller.calls
    assert panel.table.rowCount() == 1
    row = [panel.table.item(0, c).text() for c in range(panel.table.columnCount())]
    assert row[0] == "1" and row[3] == "head" and row[4] == "finished"
    assert row[7] == "+4.9 pt" and row[8] == "yes"
    assert "+4.9 pt" in panel.summary.text()

    panel.blocks.setValue(2)  # also the backbone's last two blocks
    with qtbot.waitSignal(panel.runs_loaded, timeout=5000):
        panel.train_button.click()
    assert controller.calls[-1][1].backbone_blocks == 2
    assert panel.table.rowCount() == 2 and panel.table.item(0, 0).text() == "2"
    assert panel.table.item(0, 3).text() == "head + 2 blocks"
    assert "Backbone: efficientnet-lite0+ft-0123abcd" in panel.summary.text()
    win.resize(1100, 600)
    qtbot.wait(50)
    win.grab().save(str(SCREENSHOTS / "training_panel.png"))


def test_a_failed_run_says_why(qtbot: QtBot, controller: FakeController) -> None:
    from datetime import UTC, datetime

    from astrolens.domain.records import TrainingRun, TrainingStatus
    from astrolens.ui.training import TrainingPanel

    panel = TrainingPanel(controller)
    qtbot.addWidget(panel)
    failed = TrainingRun(
        id=4,
        model_id="m",
        parameters={"error": "torch is not available in this build"},
        data_description="verification labels",
        started_at=datetime.now(UTC),
        status=TrainingStatus.FAILED,
    )
    panel.show_runs([failed])
    assert "Run 4 did not finish: torch is not available" in panel.summary.text()
    assert "unchanged" in panel.summary.text()
    assert "torch" in panel.table.item(0, 4).toolTip()

    from astrolens.domain.events import TrainingEnded

    with qtbot.waitSignal(panel.runs_loaded, timeout=5000):  # a failed run sends no 100 %
        panel._on_event(TrainingEnded("labels", False, "cancelled"))
