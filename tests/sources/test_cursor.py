"""ResumableCursor: the persisted position is the oldest task not yet finished, so a restart
neither skips unfinished work nor redoes everything finished after a slow task. Backed here
by the real store (RepositoryCursorStore on the db thread), as in the app."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from astrolens.pipeline.cursors import RepositoryCursorStore
from astrolens.pipeline.executors import Executors
from astrolens.sources.cursor import ResumableCursor
from astrolens.store.repository import SqliteRepository


class CountingStore(RepositoryCursorStore):
    def __init__(self, repo: SqliteRepository, ex: Executors) -> None:
        super().__init__(repo, ex)
        self.writes: list[str] = []

    async def set(self, source_id: str, cursor: str) -> None:
        self.writes.append(cursor)
        await super().set(source_id, cursor)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    executors = Executors.create(io_threads=1)
    repo = executors.db.submit(SqliteRepository, tmp_path / "db.sqlite3").result()
    yield CountingStore(repo, executors)
    executors.db.submit(repo.close).result()
    executors.shutdown()


def _plan(cursor: ResumableCursor, *pages: str) -> None:
    """Hand out tasks at these positions, each followed by the next ('p3' -> 'p4')."""
    for page in pages:
        cursor.planned(page, f"p{int(page[1:]) + 1}")


async def test_finishing_out_of_order_persists_the_oldest_unfinished(
    store: CountingStore,
) -> None:
    cursor = ResumableCursor("sdss", store)
    assert await cursor.position() is None
    _plan(cursor, "p1", "p2", "p3")
    assert await cursor.position() == "p4"  # planning goes on in memory

    await cursor.done("p2")
    assert cursor.watermark() == "p1" and store.writes == ["p1"]
    await cursor.done("p3")
    assert store.writes == ["p1"]  # still p1: nothing is written again
    await cursor.done("p1")
    assert cursor.watermark() == "p4" and store.writes == ["p1", "p4"]


async def test_a_restart_resumes_at_the_first_unfinished_task(store: CountingStore) -> None:
    before = ResumableCursor("sdss", store)
    await before.position()
    _plan(before, "p1", "p2", "p3")
    await before.done("p1")
    await before.done("p3")  # p2 is slow; the agent is killed here

    after = ResumableCursor("sdss", store)
    assert await after.position() == "p2"  # p2 again (p3 too: stored URIs are skipped)
    assert await ResumableCursor("other", store).position() is None


async def test_skipping_ahead_with_nothing_handed_out_is_persisted_on_flush(
    store: CountingStore,
) -> None:
    cursor = ResumableCursor("apod", store)
    await cursor.position()
    cursor.advance("2024-01-05")  # days with no picture
    assert store.writes == []
    await cursor.flush()
    await cursor.flush()
    assert store.writes == ["2024-01-05"]
    assert await ResumableCursor("apod", store).position() == "2024-01-05"


async def test_a_skip_ahead_waits_behind_unfinished_tasks(store: CountingStore) -> None:
    cursor = ResumableCursor("apod", store)
    await cursor.position()
    _plan(cursor, "p1")
    cursor.advance("p9")
    await cursor.flush()
    assert store.writes == ["p1"]
    await cursor.done("p1")
    assert store.writes == ["p1", "p9"]


async def test_a_task_from_before_the_restart_or_planned_twice_changes_nothing(
    store: CountingStore,
) -> None:
    cursor = ResumableCursor("sdss", store)
    await cursor.position()
    _plan(cursor, "p1", "p2")
    await cursor.done("p2")
    _plan(cursor, "p2")  # planned again while finished: stays finished
    await cursor.done("p0")  # a retry of a task planned before the restart
    assert cursor.watermark() == "p1"
    await cursor.done("p1")
    assert cursor.watermark() == "p3"


async def test_the_stored_position_is_read_once() -> None:
    reads: list[str] = []

    class Remembering:
        async def get(self, source_id: str) -> str | None:
            reads.append(source_id)
            return "p7"

        async def set(self, source_id: str, cursor: str) -> None:
            raise AssertionError("nothing changed: nothing to write")

    cursor = ResumableCursor("ztf", Remembering())
    assert await cursor.position() == "p7"
    assert await cursor.position() == "p7"
    await cursor.flush()  # the position it read is already stored
    assert reads == ["ztf"]


async def test_without_a_store_it_works_in_memory() -> None:
    cursor = ResumableCursor("folder", None)
    assert await cursor.position() is None
    _plan(cursor, "p1", "p2")
    await cursor.done("p1")
    await cursor.flush()
    assert cursor.watermark() == "p2" and await cursor.position() == "p3"


class CountingWrites(SqliteRepository):
    """The real store, counting its cursor transactions and able to hold one on the db
    thread (as a busy store does) until released."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits: list[dict[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    def set_cursors(self, cursors: Mapping[str, str]) -> None:
        self.gate.wait(5)
        if self.fail:
            raise OSError("disk I/O error")
        self.commits.append(dict(cursors))
        super().set_cursors(cursors)


async def test_moves_made_while_a_write_is_busy_are_stored_together_newest_last(
    tmp_path: Path,
) -> None:
    executors = Executors.create(io_threads=1)
    repo = executors.db.submit(CountingWrites, tmp_path / "db.sqlite3").result()
    try:
        cursors = RepositoryCursorStore(repo, executors)
        repo.gate.clear()  # the first write waits on the db thread
        first = asyncio.create_task(cursors.set("folder", "/a"))
        await asyncio.sleep(0.05)
        later = [
            asyncio.create_task(cursors.set(source, cursor))
            for source, cursor in [("folder", "/b"), ("sdss", "p2"), ("folder", "/c")]
        ]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in [first, *later])  # each waits for its own cursor
        repo.gate.set()
        await asyncio.wait_for(asyncio.gather(first, *later), 5)
        assert repo.commits == [{"folder": "/a"}, {"folder": "/c", "sdss": "p2"}]
        assert await cursors.get("folder") == "/c" and await cursors.get("sdss") == "p2"
    finally:
        executors.db.submit(repo.close).result()
        executors.shutdown()


async def test_a_failed_cursor_write_reaches_every_caller_waiting_for_it(tmp_path: Path) -> None:
    executors = Executors.create(io_threads=1)
    repo = executors.db.submit(CountingWrites, tmp_path / "db.sqlite3").result()
    try:
        cursors = RepositoryCursorStore(repo, executors)
        repo.fail, repo.gate = True, threading.Event()  # held, then failing
        waiting = [asyncio.create_task(cursors.set("folder", c)) for c in ("/a", "/b")]
        await asyncio.sleep(0.05)
        repo.gate.set()
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(o, OSError) for o in outcomes)
        # The next move starts a new write instead of waiting on the failed one.
        repo.fail = False
        await asyncio.wait_for(cursors.set("folder", "/c"), 5)
        assert await cursors.get("folder") == "/c"
    finally:
        executors.db.submit(repo.close).result()
        executors.shutdown()
