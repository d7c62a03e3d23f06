"""The watchdog names what blocked the loop, and says nothing while the loop answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import pytest

from astrolens.app.loop_watchdog import LoopWatchdog


def _blocks_the_loop_for(seconds: float) -> None:
    time.sleep(seconds)  # stands for work that should have gone to an executor


def _watched(body: Callable[[], Awaitable[None]], *, tick_s: float, stall_s: float) -> list[float]:
    """Run `body` on a fresh loop under a watchdog; the stalls it measured."""

    async def main() -> list[float]:
        dog = LoopWatchdog(asyncio.get_running_loop(), tick_s=tick_s, stall_s=stall_s)
        dog.start()
        try:
            await body()
        finally:
            dog.stop()
        return dog.stalls

    return asyncio.run(main())


def test_a_blocked_loop_is_logged_with_the_culprit(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        await asyncio.sleep(0.2)
        _blocks_the_loop_for(0.8)
        await asyncio.sleep(0.3)

    with caplog.at_level(logging.WARNING, logger="astrolens.app.loop_watchdog"):
        stalls = _watched(body, tick_s=0.05, stall_s=0.3)
    text = caplog.text
    assert "has not answered" in text
    assert "_blocks_the_loop_for" in text  # the loop thread's stack, not the watchdog's
    assert "answers again after" in text
    assert len(stalls) == 1 and 0.6 <= stalls[0] <= 2.0


def test_a_loop_that_answers_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        for _ in range(10):
            _blocks_the_loop_for(0.02)
            await asyncio.sleep(0.03)

    with caplog.at_level(logging.WARNING, logger="astrolens.app.loop_watchdog"):
        assert _watched(body, tick_s=0.05, stall_s=0.5) == []
    assert caplog.text == ""
