"""Async orchestration of the learning loop: re-ranking after labels, background training
runs with progress and cancel, and re-embedding the archive when the model changes.

Asyncio only: the blocking parts (the store, scikit-learn, torch) are callables the app
injects, each run on the executor it names. Training runs on its own executor, never on the
`ml` one, so a long run cannot stall discovery's embedding and scoring.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from astrolens.domain.embedding import Embedding, require_same_model
from astrolens.domain.events import Progress, TrainingEnded
from astrolens.domain.learning import REEMBED_STAGE, TRAINING_STAGE
from astrolens.domain.ports import EventSink
from astrolens.pipeline.executors import run_in

log = logging.getLogger(__name__)
T = TypeVar("T")
Pool = TypeVar("Pool")

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]


class RerankScheduler(Generic[Pool]):
    """Re-scores the candidate queue after labels; bursts of labels cost one run.

    `refresh()` returns once a run that started after the call has finished, so a caller that
    adds a label and then awaits `refresh()` sees a ranking that includes its label.
    """

    def __init__(
        self,
        *,
        load: Callable[[], Pool],
        rank: Callable[[Pool], Sequence[tuple[int, float]]],
        save: Callable[[Sequence[tuple[int, float]]], None],
        db: Executor,
        ml: Executor,
        prepare: Callable[[Pool], Pool] | None = None,
        io: Executor | None = None,
    ) -> None:
        """`prepare`, if given, runs on `io` between loading and ranking (e.g. measuring what
        the pool lacks from the image files)."""
        if prepare is not None and io is None:
            raise ValueError("prepare needs an io executor")
        self._load, self._rank, self._save = load, rank, save
        self._prepare = prepare
        self._db, self._ml, self._io = db, ml, io
        self._lock = asyncio.Lock()
        self._requested = 0
        self._completed = 0
        self.runs = 0

    async def refresh(self) -> int:
        """Returns how many candidates were re-scored (0 when a later run covered this one)."""
        self._requested += 1
        ticket = self._requested
        async with self._lock:
            if self._completed >= ticket:
                return 0
            covers = self._requested
            pool = await run_in(self._db, self._load)
            if self._prepare is not None and self._io is not None:
                pool = await run_in(self._io, self._prepare, pool)
            scores = await run_in(self._ml, self._rank, pool)
            await run_in(self._db, self._save, scores)
            self._completed = covers
            self.runs += 1
            return len(scores)


@dataclass
class TrainingStatus:
    name: str
    fraction: float = 0.0
    message: str = ""


class TrainingBusyError(RuntimeError):
    """A training run is already going; one at a time."""


class TrainingRunner:
    """One background training job at a time, with progress events and cooperative cancel.

    The job runs on `executor` as `job(progress, cancelled)`; `progress(fraction, message)`
    may be called from the worker thread and is forwarded to the loop as a Progress event.
    """

    def __init__(self, executor: Executor, events: EventSink | None = None) -> None:
        self._executor = executor
        self._events = events
        self._task: asyncio.Task[Any] | None = None
        self._cancel = threading.Event()
        self.status: TrainingStatus | None = None

    @property
    def active(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, name: str, job: Callable[[ProgressFn, CancelledFn], T]) -> asyncio.Task[T]:
        if self.active:
            raise TrainingBusyError("a training run is already going")
        loop = asyncio.get_running_loop()
        self._cancel = threading.Event()
        cancel = self._cancel
        status = self.status = TrainingStatus(name)

        def publish(fraction: float, message: str) -> None:
            status.fraction, status.message = fraction, message
            if self._events is not None:
                self._events(Progress(round(1000 * fraction), 1000, TRAINING_STAGE))

        def progress(fraction: float, message: str) -> None:  # worker thread
            loop.call_soon_threadsafe(publish, fraction, message)

        async def run() -> T:
            try:
                result = await run_in(self._executor, job, progress, cancel.is_set)
            except BaseException as exc:
                self._ended(name, False, "cancelled" if cancel.is_set() else str(exc)[:200])
                raise
            self._ended(name, True)
            return result

        task: asyncio.Task[T] = loop.create_task(run(), name=f"astrolens-train-{name}")
        self._task = task
        return task

    def _ended(self, name: str, ok: bool, message: str = "") -> None:
        if self._events is not None:
            self._events(TrainingEnded(name, ok, message))

    def cancel(self) -> None:
        """Ask the job to stop at its next check; the task then ends with its exception."""
        self._cancel.set()

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


@dataclass(frozen=True)
class ArchiveItem:
    image_id: int
    image_path: str | None


class ArchiveReembedder:
    """Embeds every stored image that has no vector of `model_id` yet, in batches.

    Vectors of the old model stay where they are under their own model id: queries filter by
    model id, so the archive never mixes two models, and switching back needs no re-embed.
    """

    def __init__(
        self,
        *,
        model_id: str,
        dim: int,
        missing: Callable[[int], Sequence[ArchiveItem]],
        embed: Callable[[Sequence[ArchiveItem]], Sequence[tuple[int, Embedding]]],
        save: Callable[[Sequence[tuple[int, Embedding]]], None],
        db: Executor,
        ml: Executor,
        events: EventSink | None = None,
        batch_size: int = 32,
    ) -> None:
        self.model_id, self.dim = model_id, dim
        self._missing, self._embed, self._save = missing, embed, save
        self._db, self._ml = db, ml
        self._events = events
        self.batch_size = batch_size
        self.done = 0

    async def run(self) -> int:
        """Until nothing is missing (or nothing more can be embedded); returns how many."""
        skipped: set[int] = set()
        while True:
            batch = await run_in(self._db, self._missing, self.batch_size + len(skipped))
            batch = [item for item in batch if item.image_id not in skipped]
            if not batch:
                if self.done and self._events is not None:
                    # the end, said as such: the batches' totals are only "so far"
                    self._events(Progress(self.done, self.done, REEMBED_STAGE))
                return self.done
            vectors = await run_in(self._ml, self._embed, batch)
            for _, embedding in vectors:
                require_same_model(self.model_id, self.dim, embedding.model_id, embedding.dim)
            got = {image_id for image_id, _ in vectors}
            # an image that cannot be read again (its file is gone) is skipped, not retried
            skipped.update(item.image_id for item in batch if item.image_id not in got)
            await run_in(self._db, self._save, vectors)
            self.done += len(vectors)
            if self._events is not None:
                self._events(Progress(self.done, self.done + len(batch), REEMBED_STAGE))
