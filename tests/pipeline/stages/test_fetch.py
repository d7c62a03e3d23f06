"""FetchStage alone: what a cycle plans from its sources, and the fetch workers between the
plan and decode (quarantine, an unavailable source, pause)."""

from __future__ import annotations

import asyncio

from astrolens.domain.errors import TemporarilyUnreadableError, UnreadableImageError
from astrolens.domain.events import ImageQuarantined, Progress, SourceStatusChanged
from astrolens.domain.images import RawImage
from astrolens.domain.sources import FetchTask, task_to_json
from astrolens.pipeline.stages.fetch import FetchStage
from astrolens.pipeline.stages.handoff import Fetched, FetchedQueue, FetchJob, FetchQueue
from astrolens.pipeline.stages.ledger import CycleLedger
from tests.pipeline.stages.conftest import Stores, drain, run_until_joined
from tests.pipeline.test_discovery import MemorySource, normal_set
from tests.store.builders import decoded


class FlakySource(MemorySource):
    """Some downloads are not images: a broken file, or a maintenance page (temporary)."""

    def __init__(self, items: dict[str, bytes], *, broken=(), maintenance=()) -> None:  # type: ignore[no-untyped-def]
        super().__init__(items)
        self.broken, self.maintenance = set(broken), set(maintenance)
        self.attempts: list[str] = []

    async def fetch(self, task: FetchTask) -> RawImage:
        self.attempts.append(task.uri)
        if task.uri in self.broken:
            raise UnreadableImageError(f"{task.uri}: not an image")
        if task.uri in self.maintenance:
            raise TemporarilyUnreadableError(f"{task.uri}: down for maintenance")
        return await super().fetch(task)


def _stage(stores: Stores, sources, ledger: CycleLedger, resume: asyncio.Event) -> FetchStage:  # type: ignore[no-untyped-def]
    return FetchStage(
        sources=sources,
        repository=stores.repo,
        executors=stores.ex,
        ledger=ledger,
        resume=resume,
        emit=stores.events.append,
        tasks_per_source=10,
    )


async def _fetch_all(stage: FetchStage, source: MemorySource) -> list[Fetched]:
    jobs: FetchQueue = asyncio.Queue()
    out: FetchedQueue = asyncio.Queue()
    for task in await source.plan(10):
        jobs.put_nowait(FetchJob(source, task))
    await run_until_joined(stage.run(jobs, out), jobs)
    return await drain(out)


async def test_the_plan_skips_what_is_stored_moves_its_cursor_and_adds_due_retries(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = MemorySource(normal_set(4))
    stored, retried = "mem://normal/1.png", "mem://normal/3.png"
    stores.db(lambda r: r.add_image(decoded(1, source_id="mem", uri=stored), None, None))
    # A temporary failure of an earlier cycle (due now), also planned afresh: fetched once.
    again = FetchTask("mem", retried, cursor=retried)
    old = FetchTask("mem", "mem://old/page.png", cursor="old")
    for task in (again, old):
        text = task_to_json(task)
        stores.db(lambda r, t=task, j=text: r.quarantine(t.uri, "503", temporary=True, task_json=j))

    plans = await _stage(stores, [source], stores.ledger(), resume).plan()

    assert [(s, [t.uri for t in tasks]) for s, tasks in plans] == [
        (source, ["mem://normal/0.png", "mem://normal/2.png", retried, old.uri])
    ]
    assert source.done == [stored]  # stored before a crash: only its cursor had to move
    assert [e.status.source_id for e in stores.of(SourceStatusChanged)] == ["mem"]


async def test_a_source_down_at_planning_plans_nothing_and_says_so(
    stores: Stores, resume: asyncio.Event
) -> None:
    down, up = MemorySource({}, source_id="down"), MemorySource(normal_set(2), source_id="up")

    async def unavailable(limit: int) -> list[FetchTask]:
        from astrolens.domain.errors import SourceUnavailableError

        raise SourceUnavailableError("no route to host")

    down.plan = unavailable  # type: ignore[method-assign]
    plans = await _stage(stores, [down, up], stores.ledger(), resume).plan()
    assert [(s.id, len(tasks)) for s, tasks in plans] == [("down", 0), ("up", 2)]
    assert [e.status.source_id for e in stores.of(SourceStatusChanged)] == ["down", "up"]


async def test_fetched_images_go_on_to_decode_each_with_its_own_tracker(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = MemorySource(normal_set(3))
    ledger = stores.ledger(planned=3)
    fetched = await _fetch_all(_stage(stores, [source], ledger, resume), source)
    assert sorted(f.raw.provenance.uri for f in fetched) == sorted(source.items)
    assert all(f.raw.data == source.items[f.raw.provenance.uri] for f in fetched)
    assert len({id(f.tracker) for f in fetched}) == 3
    assert all(f.tracker.task.uri == f.raw.provenance.uri for f in fetched)
    assert ledger.report.fetched == 3
    assert source.done == []  # the cursor moves when the images are stored, not fetched


async def test_an_unreadable_download_is_quarantined_and_its_task_done(
    stores: Stores, resume: asyncio.Event
) -> None:
    items = normal_set(3)
    broken, maintenance = "mem://normal/0.png", "mem://normal/1.png"
    source = FlakySource(items, broken=[broken], maintenance=[maintenance])
    ledger = stores.ledger(planned=3)
    fetched = await _fetch_all(_stage(stores, [source], ledger, resume), source)

    assert [f.raw.provenance.uri for f in fetched] == ["mem://normal/2.png"]
    assert ledger.report.quarantined == 2 and ledger.report.fetched == 1
    assert {e.uri for e in stores.of(ImageQuarantined)} == {broken, maintenance}
    assert sorted(source.done) == sorted([broken, maintenance])  # rejected: cursor moves
    assert [p.done for p in stores.of(Progress)] == [1, 2]
    assert {p.total for p in stores.of(Progress)} == {3}
    # Only the temporary failure is fetched again, once its retry time has come.
    retries = stores.db(lambda r: r.due_retries("mem", 10))
    assert [t for t in retries if maintenance in t] == retries and len(retries) == 1
    source.done.clear()
    plans = await _stage(stores, [source], stores.ledger(), resume).plan()
    assert broken not in {t.uri for t in plans[0][1]}
    assert maintenance in {t.uri for t in plans[0][1]}


async def test_an_unavailable_source_is_asked_once_and_its_cursor_stays(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = FlakySource(normal_set(4))
    source.unavailable = True
    ledger = stores.ledger(planned=4)
    fetched = await _fetch_all(_stage(stores, [source], ledger, resume), source)
    assert fetched == []
    assert len(source.attempts) == 1  # one worker: the rest of the cycle skips the source
    assert ledger.report.unavailable == 4
    assert source.done == [] and not stores.of(Progress)
    assert [e.status.state.value for e in stores.of(SourceStatusChanged)] == ["unavailable"]


async def test_a_source_one_worker_found_down_is_not_asked_by_the_others(
    stores: Stores, resume: asyncio.Event
) -> None:
    """Four workers; while three download from a slow source, one finds the other source
    down. Each worker that reaches the down source's later jobs skips them."""
    down = FlakySource(normal_set(4))
    down.unavailable = True
    slow = MemorySource(normal_set(6, start=10), source_id="slow")
    slow.fetch_delay = 0.05
    ledger = stores.ledger(planned=10)
    stage = _stage(stores, [down, slow], ledger, resume)
    jobs: FetchQueue = asyncio.Queue()
    out: FetchedQueue = asyncio.Queue()
    down_tasks, slow_tasks = await down.plan(10), await slow.plan(10)
    for source, task in [
        (down, down_tasks[0]),
        *((slow, t) for t in slow_tasks[:3]),
        *((down, t) for t in down_tasks[1:]),
        *((slow, t) for t in slow_tasks[3:]),
    ]:
        jobs.put_nowait(FetchJob(source, task))

    async def four_workers() -> None:
        await asyncio.gather(*(stage.run(jobs, out) for _ in range(4)))

    await run_until_joined(four_workers(), jobs)
    assert len(down.attempts) == 1
    assert ledger.report.unavailable == 4
    assert len(await drain(out)) == 6


async def test_pause_holds_the_next_download_until_resume(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = FlakySource(normal_set(2))
    stage = _stage(stores, [source], stores.ledger(), resume)
    jobs: FetchQueue = asyncio.Queue()
    out: FetchedQueue = asyncio.Queue()
    for task in await source.plan(10):
        jobs.put_nowait(FetchJob(source, task))
    resume.clear()
    worker = asyncio.create_task(stage.run(jobs, out), name="astrolens-test-fetch")
    await asyncio.sleep(0.2)
    assert source.attempts == [] and out.empty()
    resume.set()
    await asyncio.wait_for(jobs.join(), 10)
    worker.cancel()
    assert out.qsize() == 2
