"""The Annotate button in the verification panel: the real annotator (prompt, PNG rendering,
Ollama client over HTTP) against a local Ollama stand-in, and a failure shown in words."""

from __future__ import annotations

import dataclasses

from pytestqt.qtbot import QtBot

from astrolens.domain.crossmatch import MatchStatus
from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from tests.llm.fake_llm import FakeLLMServer, Reply, ollama_show, ollama_stream
from tests.ui.conftest import save_screenshot
from tests.ui.fakes import FakeController

ANSWER = (
    "Morphology: a disturbed spiral with a tidal tail to the north-east.\n"
    "Artefact?: unlikely; no straight trail, spike or column.\n"
    "Next: check the SIMBAD match and look for a companion in a deeper image."
)


def _window(qtbot: QtBot, controller: FakeController) -> MainWindow:
    win = MainWindow(controller, AgentBridge(controller), url_opener=lambda url: None)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    return win


def test_annotate_button_asks_the_model_and_shows_the_answer(
    qtbot: QtBot, controller: FakeController
) -> None:
    target = next(
        c for c in controller.base if any(x.status is MatchStatus.MATCH for x in c.crossmatches)
    )
    with FakeLLMServer() as llm:
        llm.routes["POST", "/api/show"] = lambda r: Reply(body=ollama_show(["vision"]))
        llm.routes["POST", "/api/chat"] = lambda r: Reply(body=ollama_stream(ANSWER))
        controller._settings = dataclasses.replace(controller._settings, ollama_url=llm.url)
        win = _window(qtbot, controller)
        win.open_candidate(target.id)
        v = win.verification
        qtbot.waitUntil(lambda: v.candidate is not None and v.candidate.id == target.id)
        assert v.annotate_button.isEnabled()
        v.annotate_button.click()
        qtbot.waitUntil(lambda: "tidal tail" in v.annotation.text(), timeout=20_000)
        assert "ollama · llava" in v.annotation.text()
        sent = next(r for r in llm.requests if r.path == "/api/chat")
        assert f"p-value {target.result.p_value:.3g}" in sent.body["messages"][1]["content"]
    assert ("annotate", target.id) in controller.calls
    save_screenshot(win, "verification-annotation")
    # Shown again when the candidate is opened later (from the stored annotations).
    other = next(c for c in controller.base if c.id != target.id)
    win.open_candidate(other.id)
    qtbot.waitUntil(lambda: v.candidate is not None and v.candidate.id == other.id)
    assert v.annotation.text() == ""
    win.open_candidate(target.id)
    qtbot.waitUntil(lambda: "tidal tail" in v.annotation.text())


def test_annotate_button_says_why_when_ollama_is_not_running(
    qtbot: QtBot, controller: FakeController
) -> None:
    controller._settings = dataclasses.replace(
        controller._settings, ollama_url="http://127.0.0.1:9"
    )
    win = _window(qtbot, controller)
    target = controller.base[0]
    win.open_candidate(target.id)
    v = win.verification
    qtbot.waitUntil(lambda: v.candidate is not None)
    v.annotate_button.click()
    qtbot.waitUntil(lambda: "No annotation" in v.annotation.text(), timeout=20_000)
    assert "not reachable" in v.annotation.text() and "ollama serve" in v.annotation.text()
    assert v.annotate_button.isEnabled()  # the user can try again
    save_screenshot(win, "verification-annotation-failed")
