"""What the stage tests share: a real store, blob store and executors, a cycle's ledger, the
events it emitted, and a pause gate that starts open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from astrolens.domain.events import Event
from astrolens.pipeline.executors import Executors
from astrolens.pipeline.stages.handoff import EmbedItem, TaskTracker
from astrolens.pipeline.stages.ledger import CycleLedger, CycleReport
from astrolens.store.blobs import FileBlobStore
from astrolens.store.repository import SqliteRepository

E = TypeVar("E", bound=Event)


@dataclass
class Stores:
    repo: SqliteRepository
    blobs: FileBlobStore
    ex: Executors
    events: list[Event] = field(default_factory=list)

    def db(self, fn: Callable[[SqliteRepository], Any]) -> Any:
        """Run `fn(repo)` on the db thread (SQLite belongs to the thread that opened it)."""
        return self.ex.db.submit(fn, self.repo).result()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def ledger(self, planned: int = 0) -> CycleLedger:
        return CycleLedger(
            CycleReport(cycle=1, planned=planned),
            repository=self.repo,
            executors=self.ex,
            emit=self.events.append,
        )


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    executors = Executors.create(io_threads=2)
    # A temporary failure is due again at once, so a test can see it planned again.
    repo = executors.db.submit(
        SqliteRepository, tmp_path / "db.sqlite3", quarantine_delay=lambda _n: timedelta(0)
    ).result()
    yield Stores(repo, FileBlobStore(tmp_path / "blobs"), executors)
    executors.db.submit(repo.close).result()
    executors.shutdown()


@pytest.fixture
def resume() -> asyncio.Event:
    gate = asyncio.Event()
    gate.set()
    return gate


async def drain(queue: asyncio.Queue[Any]) -> list[Any]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
        queue.task_done()
    return out


async def run_until_joined(worker: Any, queue: asyncio.Queue[Any], *, limit_s: float = 30) -> None:
    """Run one stage worker until everything put on its input queue is done, then stop it
    as the pipeline does (cancel, then await). A worker that ends by itself (it crashed)
    fails the test with its exception."""
    task = asyncio.create_task(worker, name="astrolens-test-stage")
    joined = asyncio.create_task(queue.join(), name="astrolens-test-join")
    done, _ = await asyncio.wait({task, joined}, timeout=limit_s, return_when="FIRST_COMPLETED")
    joined.cancel()
    if task in done:
        task.result()  # raises what the worker died of
        raise AssertionError("the stage worker returned; it should run until cancelled")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert joined in done, f"the queue was not done within {limit_s} s"


def embed_items(source: Any, uris_and_bytes: list[tuple[str, bytes]]) -> list[EmbedItem]:
    """Decoded images (real decoder) as decode hands them on, one task each."""
    from astrolens.domain.images import Provenance, RawImage
    from astrolens.domain.sources import FetchTask
    from astrolens.imaging.decoder import ImageDecoder

    decoder = ImageDecoder()
    items = []
    for uri, data in uris_and_bytes:
        tracker = TaskTracker(source, FetchTask(source.id, uri, cursor=uri), remaining=1)
        (image,) = decoder.decode(RawImage(Provenance(source.id, uri), "x.png", data))
        items.append(EmbedItem(tracker, image, data))
    return items


def count_calls(obj: Any, name: str) -> list[Any]:
    """Record the arguments of each call of `obj.name` (which still runs)."""
    calls: list[Any] = []
    original = getattr(obj, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    setattr(obj, name, counting)
    return calls
