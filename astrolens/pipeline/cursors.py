"""Source cursors persisted through the repository, awaited on the loop via the db executor.

Writes are coalesced: while one is on the db thread, later `set`s only record the newest
cursor of each source, and the running writer stores them together when it is done. A scan
finishing a batch of files moves a cursor once per file; each move was its own commit.
`set` still returns only once its cursor (or a newer one of the same source) is stored.
"""

from __future__ import annotations

import asyncio

from astrolens.domain.ports import Repository
from astrolens.pipeline.executors import Executors, run_in


class RepositoryCursorStore:
    def __init__(self, repository: Repository, executors: Executors) -> None:
        self._repo = repository
        self._ex = executors
        self._latest: dict[str, str] = {}  # waiting for the next write
        self._writer: asyncio.Task[None] | None = None

    async def get(self, source_id: str) -> str | None:
        return await run_in(self._ex.db, self._repo.get_cursor, source_id)

    async def set(self, source_id: str, cursor: str) -> None:
        self._latest[source_id] = cursor
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="astrolens-cursor-write")
        # Shielded: a caller cancelled mid-write must not cancel the others' write.
        await asyncio.shield(self._writer)

    async def _write(self) -> None:
        try:
            while self._latest:
                cursors, self._latest = self._latest, {}
                await run_in(self._ex.db, self._repo.set_cursors, cursors)
        finally:
            self._writer = None
