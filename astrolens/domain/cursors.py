"""Where a source remembers how far it got, so a restart resumes instead of starting over."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class CursorStore(Protocol):
    """Persistent per-source cursors. The app backs it with the Repository (db executor)."""

    async def get(self, source_id: str) -> str | None: ...

    async def set(self, source_id: str, cursor: str) -> None: ...


class InMemoryCursorStore:
    """A CursorStore that forgets on exit: for tests and one-shot scans."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self.cursors: dict[str, str] = dict(initial or {})

    async def get(self, source_id: str) -> str | None:
        return self.cursors.get(source_id)

    async def set(self, source_id: str, cursor: str) -> None:
        self.cursors[source_id] = cursor
