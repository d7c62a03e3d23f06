"""Labels given in the window change the next candidates it shows: the real agent (store,
calibrated scorer, re-ranker) behind the real verification panel, driven by its buttons."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from astrolens.app.agent import AgentRuntime
from astrolens.app.context import AstroLensApp
from astrolens.domain.labels import LabelValue
from astrolens.settings.paths import app_paths
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from tests.app.test_learning_e2e import populate
from tests.ui.conftest import save_screenshot


@pytest.fixture
def agent(
    tmp_path: Path, qloop: asyncio.AbstractEventLoop
) -> Iterator[tuple[AgentRuntime, dict[str, list[int]]]]:
    app = AstroLensApp(paths=app_paths(tmp_path / "home"))
    groups = populate(app)
    runtime = AgentRuntime(app)
    yield runtime, groups
    runtime.learning.close()  # its training thread; the rest belongs to the app
    app.close()


def test_false_positives_in_the_window_bring_the_mergers_forward(qtbot: QtBot, agent) -> None:
    runtime, groups = agent
    win = MainWindow(runtime, AgentBridge(runtime), url_opener=lambda _url: None)
    qtbot.addWidget(win)
    win.resize(1200, 760)
    win.show()
    win.show_panel("Verification")
    v = win.verification
    qtbot.waitUntil(lambda: v.candidate is not None, timeout=10000)
    assert v.candidate.id in groups["artefact"], "unsupervised: the artefacts come first"

    rejected = []
    while v.candidate.id in groups["artefact"]:
        shown = v.candidate.id
        v.buttons[LabelValue.FALSE_POSITIVE].click()
        qtbot.waitUntil(lambda shown=shown: v.candidate.id != shown, timeout=10000)
        rejected.append(shown)
        assert len(rejected) <= 3, "three false positives should be enough to re-rank"
    assert v.candidate.id in groups["merger"], "the next candidate shown is a merger"
    assert "learned rank" in v.score.toolTip()  # the number, one hover away
    later = [v.queue[i] for i in range(v.position, min(v.position + 3, len(v.queue)))]
    assert set(later) <= set(groups["merger"]), "and so are the ones after it"

    stored = asyncio.ensure_future(runtime.get_candidate(rejected[0]))
    qtbot.waitUntil(stored.done, timeout=5000)
    assert stored.result().label.value is LabelValue.FALSE_POSITIVE

    # "Label next" asks the learning loop, never about something already labelled
    v.mode.setCurrentIndex(v.mode.findData("label_next"))
    qtbot.waitUntil(lambda: v.candidate.id not in rejected and len(v.queue) > 1, timeout=10000)
    assert not set(v.queue[1:]) & set(rejected)
    save_screenshot(win, "verification-learned")
