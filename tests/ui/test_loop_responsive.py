"""The UI's loop keeps ticking while a scan does heavy work in the executor."""

from __future__ import annotations

import asyncio
import time

from pytestqt.qtbot import QtBot

from astrolens.ui.bridge import AgentBridge
from astrolens.ui.main_window import MainWindow
from tests.ui.fakes import FakeController


def test_event_loop_stays_responsive_during_a_scan(
    qtbot: QtBot, controller: FakeController, demo_dir
) -> None:
    win = MainWindow(controller, AgentBridge(controller), url_opener=lambda _: None)
    qtbot.addWidget(win)
    win.show()
    lags: list[float] = []
    stop = False

    async def ticker() -> None:
        while not stop:
            start = time.perf_counter()
            await asyncio.sleep(0.010)
            lags.append(time.perf_counter() - start - 0.010)

    tick = asyncio.ensure_future(ticker())
    scan = asyncio.ensure_future(controller.run_scan(demo_dir, repeats=2))
    started = time.perf_counter()
    qtbot.waitUntil(scan.done, timeout=120_000)
    took = time.perf_counter() - started
    stop = True
    qtbot.waitUntil(tick.done)
    assert scan.result() >= 40
    assert took > 0.5, "the scan must do real work for this test to mean anything"
    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1]
    assert len(lags) > took / 0.05, f"only {len(lags)} ticks in {took:.1f} s"
    assert p99 < 0.05 and lags[-1] < 0.25, f"p99 lag {p99 * 1000:.0f} ms, max {lags[-1]:.3f} s"
    # The progress bar followed the scan (events reached the UI while it ran).
    assert win.discovery.progress.maximum() > 0
