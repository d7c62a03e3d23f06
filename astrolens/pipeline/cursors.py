"""Source cursors persisted through the repository, awaited on the loop via the db executor."""

from __future__ import annotations

from astrolens.domain.ports import Repository
from astrolens.pipeline.executors import Executors, run_in


class RepositoryCursorStore:
    def __init__(self, repository: Repository, executors: Executors) -> None:
        self._repo = repository
        self._ex = executors

    async def get(self, source_id: str) -> str | None:
        return await run_in(self._ex.db, self._repo.get_cursor, source_id)

    async def set(self, source_id: str, cursor: str) -> None:
        await run_in(self._ex.db, self._repo.set_cursor, source_id, cursor)
