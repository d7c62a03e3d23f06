"""Where sources keep their place between runs."""

from __future__ import annotations

from typing import Protocol


class CursorStore(Protocol):
    """A persistent, opaque cursor per source id. The store never interprets the string."""

    async def get(self, source_id: str) -> str | None: ...

    async def set(self, source_id: str, cursor: str) -> None: ...
