"""A resumable cursor: the persisted position is the first task not yet finished.

Sources plan in a fixed order, and the pipeline finishes tasks out of order (several fetch
workers). Persisting "the last task planned" would skip unfinished work after a crash;
persisting "the last task finished" would redo everything finished after a slow one. So we
keep the planned tasks in order and persist the position of the oldest unfinished one, or,
once all are finished, the position after the last planned task. Tasks finished beyond the
watermark are fetched again after a restart only if they were not stored, because the
pipeline skips stored URIs: nothing stored is downloaded twice, nothing unfinished is skipped.
"""

from __future__ import annotations

from astrolens.domain.cursors import CursorStore


class ResumableCursor:
    def __init__(self, source_id: str, store: CursorStore | None) -> None:
        self.source_id = source_id
        self._store = store
        self._loaded = False
        self._next: str | None = None  # where planning continues (in memory)
        self._pending: dict[str, bool] = {}  # task cursor -> finished, in plan order
        self._persisted: str | None = None

    async def position(self) -> str | None:
        """Where planning continues: the stored watermark at start, then in memory."""
        if not self._loaded:
            self._next = await self._store.get(self.source_id) if self._store else None
            self._persisted = self._next
            self._loaded = True
        return self._next

    def planned(self, task_cursor: str, next_position: str) -> None:
        """A task at `task_cursor` was handed out; planning continues at `next_position`."""
        self._pending.setdefault(task_cursor, False)
        self._next = next_position

    def advance(self, next_position: str) -> None:
        """Skip ahead with nothing handed out (an empty field, a day with no picture)."""
        self._next = next_position

    async def done(self, task_cursor: str) -> None:
        if task_cursor in self._pending:
            self._pending[task_cursor] = True
        while self._pending and next(iter(self._pending.values())):
            self._pending.pop(next(iter(self._pending)))
        await self.flush()

    def watermark(self) -> str | None:
        return next(iter(self._pending), None) if self._pending else self._next

    async def flush(self) -> None:
        mark = self.watermark()
        if self._store is not None and mark is not None and mark != self._persisted:
            await self._store.set(self.source_id, mark)
            self._persisted = mark
