"""A sliding-window rate limit shared by every AstroLens process of this user on this machine.

SIMBAD counts requests per client address, not per process: two processes each keeping to
5 per second reached 10.5 per second together. The window's start times live in a small file
under a per-user temp folder, read and rewritten under an exclusive flock; for a serialised
service the lock is held for the whole request, so requests from all processes take turns.
The OS drops a dead process's flock, so a kill -9 never blocks the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def default_rate_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"astrolens-rates-{uid}"


class SharedWindow:
    def __init__(
        self,
        path: Path,
        max_calls: int,
        period: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.max_calls = max_calls
        self.period = period
        self._clock = clock
        self._sleep = sleep

    @contextlib.contextmanager
    def slot(self, *, serialised: bool) -> Iterator[None]:
        """Wait for a place in the window; `serialised` keeps the lock for the request."""
        if sys.platform == "win32":  # pragma: no cover - no flock; the in-process gate remains
            yield
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._book(fd)
            if not serialised:
                fcntl.flock(fd, fcntl.LOCK_UN)
            yield
        finally:
            os.close(fd)  # closing drops the lock if it is still held

    def _book(self, fd: int) -> None:
        while True:
            now = self._clock()
            starts = [t for t in self._read(fd) if now - t < self.period]
            if len(starts) < self.max_calls:
                starts.append(now)
                payload = json.dumps(starts[-self.max_calls :]).encode()
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, payload)
                return
            self._sleep(max(0.0, min(starts) + self.period - now))

    @staticmethod
    def _read(fd: int) -> list[float]:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 65536)
        try:
            values = json.loads(raw or b"[]")
            return sorted(float(v) for v in values)
        except (ValueError, TypeError):
            return []  # a torn or foreign file: start a fresh window
