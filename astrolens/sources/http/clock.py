"""Time as the transport sees it, injectable so tests prove politeness with timestamps."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: what limiters and breakers count in."""
        ...

    def now(self) -> datetime:
        """Wall-clock time (UTC, aware): for Retry-After dates and "retrying at HH:MM"."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
