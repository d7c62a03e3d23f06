"""Says in the log when the agent's event loop stops answering, and what held it.

The tray, the window and the scripts' commands all wait on the one Qt/asyncio loop: work
that blocks it freezes the menu. The loop ticks a heartbeat; a daemon thread notices when
the heartbeat is late and writes the loop thread's stack to the log once per stall, which
is what a user's bug report (or a CI log) needs to find the culprit.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

log = logging.getLogger(__name__)


class LoopWatchdog:
    """`start()` on the loop thread; `stop()` before the loop closes."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        tick_s: float = 0.25,
        stall_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loop = loop
        self.tick_s = tick_s
        self.stall_s = stall_s
        self.clock = clock
        self.stalls: list[float] = []  # how long each finished stall lasted, in seconds
        self._beat = clock()
        self._loop_thread_id = threading.get_ident()
        self._stop = threading.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(
            target=self._watch, name="astrolens-loop-watchdog", daemon=True
        )

    def start(self) -> None:
        self._loop_thread_id = threading.get_ident()
        self._tick()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _tick(self) -> None:
        self._beat = self.clock()
        self._timer = self.loop.call_later(self.tick_s, self._tick)

    def _watch(self) -> None:
        stalled_since: float | None = None
        while not self._stop.wait(self.tick_s):
            late = self.clock() - self._beat - self.tick_s
            if late >= self.stall_s and stalled_since is None:
                stalled_since = self._beat
                log.warning(
                    "the event loop has not answered for %.1f s; it is running:\n%s",
                    late,
                    self._loop_stack(),
                )
            elif late < self.stall_s and stalled_since is not None:
                lasted = self._beat - stalled_since
                self.stalls.append(lasted)
                log.warning("the event loop answers again after %.1f s", lasted)
                stalled_since = None

    def _loop_stack(self) -> str:
        frame = sys._current_frames().get(self._loop_thread_id)
        if frame is None:
            return "  (the loop thread has no Python frame)"
        return "".join(traceback.format_stack(frame, limit=25))
