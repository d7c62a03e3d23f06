"""A clock for politeness tests: sleeping advances time at once and is recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.t = 1000.0
        self._t0 = self.t
        self.start = start or datetime(2024, 3, 10, 17, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - self._t0)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.t += seconds
        await asyncio.sleep(0)


class MemoryCursors:
    """CursorStore in memory: what the store adapter does, minus SQLite."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    async def get(self, source_id: str) -> str | None:
        return self.values.get(source_id)

    async def set(self, source_id: str, cursor: str) -> None:
        self.values[source_id] = cursor
        self.writes += 1
