"""The tray agent serves the API on its own qasync loop (no thread, no process): a script's
requests are answered while the Qt loop keeps turning."""

from __future__ import annotations

import asyncio
import threading

import httpx
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from astrolens.app.api.token import load_or_create
from astrolens.app.desktop import DesktopAgent
from astrolens.settings.paths import app_paths
from tests.ui.fakes import FakeController


def test_tray_agent_serves_the_api_on_its_qasync_loop(
    qtbot: QtBot, qapp: QApplication, controller: FakeController
) -> None:
    agent = DesktopAgent(qapp, lambda notifier: controller, api=True, api_port=0)
    agent.start()
    qtbot.waitUntil(lambda: agent.api_server is not None, timeout=20_000)
    assert agent.describe()["api_url"] == agent.api_server.url
    token = load_or_create(app_paths().config_dir).value
    answers: dict[str, object] = {}

    def script() -> None:  # another program on this machine
        with httpx.Client(
            base_url=agent.api_server.url, headers={"Authorization": f"Bearer {token}"}
        ) as c:
            answers["health"] = c.get("/health").json()
            answers["candidates"] = c.get("/candidates", params={"limit": 5}).json()
            answers["pause"] = c.post("/pause").json()

    worker = threading.Thread(target=script)
    worker.start()
    qtbot.waitUntil(lambda: not worker.is_alive(), timeout=30_000)
    assert answers["health"]["status"] == "ok"
    assert len(answers["candidates"]["items"]) == 5
    assert answers["pause"] == {"state": "paused"}
    assert ("pause", None) in controller.calls  # the window's own controller did it
    assert not any(t.name.startswith("uvicorn") for t in threading.enumerate())

    done = asyncio.ensure_future(agent.shutdown())
    qtbot.waitUntil(done.done, timeout=30_000)
    done.result()
    assert agent.api_server._task is None  # stopped with the agent
