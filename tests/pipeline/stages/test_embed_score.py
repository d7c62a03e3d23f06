"""EmbedScoreStage alone, with the real store, blob store, decoder and scorer: batching, files
written while the batch is embedded, one transaction per batch, a bootstrapping kind buffered
then ranked within itself, a calibrated kind judged at once, and pause within a batch."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from astrolens.domain.events import ImageScored
from astrolens.domain.images import DecodedImage
from astrolens.domain.scoring import Verdict
from astrolens.ml.scoring.ensemble import EnsembleScorer
from astrolens.pipeline.scoring_bank import ScoringBank
from astrolens.pipeline.stages.embed_score import EmbedScoreStage
from astrolens.pipeline.stages.handoff import EmbedItem, EmbedQueue, MatchQueue
from astrolens.pipeline.stages.ledger import CycleLedger
from astrolens.pipeline.stages.persist import PersistStage
from astrolens.store.blobs import FileBlobStore
from tests.pipeline.stages.conftest import Stores, count_calls, drain, embed_items
from tests.pipeline.test_discovery import MemorySource, TinyEmbedder, hsc_normal, hsc_odd

MODEL = TinyEmbedder.model_id


def _stage(
    stores: Stores,
    ledger: CycleLedger,
    resume: asyncio.Event,
    *,
    embedder: Any = None,
    blobs: Any = None,
    matches: MatchQueue | None = None,
    **config: Any,
) -> EmbedScoreStage:
    settings = {"batch_size": 16, "batch_wait_s": 0.05, "bootstrap_flush_at": 5000, **config}
    return EmbedScoreStage(
        embedder=embedder or TinyEmbedder(),
        blobs=blobs or stores.blobs,
        executors=stores.ex,
        scoring=ScoringBank(
            lambda: EnsembleScorer(alpha=0.1), stores.repo, stores.ex, MODEL, min_reference=20
        ),
        persist=PersistStage(
            repository=stores.repo,
            executors=stores.ex,
            model_id=MODEL,
            ledger=ledger,
            emit=stores.events.append,
            matches=matches if matches is not None else asyncio.Queue(),
        ),
        ledger=ledger,
        resume=resume,
        **settings,
    )


def _normals(source: MemorySource, n: int, start: int = 0) -> list[EmbedItem]:
    return embed_items(
        source, [(f"mem://normal/{i}.png", hsc_normal(i)) for i in range(start, start + n)]
    )


async def test_a_batch_takes_what_is_queued_up_to_its_size_and_waits_briefly_for_more(
    stores: Stores, resume: asyncio.Event
) -> None:
    stage = _stage(stores, stores.ledger(), resume, batch_size=3, batch_wait_s=0.2)
    queue: EmbedQueue = asyncio.Queue()
    for item in _normals(MemorySource({}), 5):
        queue.put_nowait(item)
    started = time.monotonic()
    assert len(await stage.next_batch(queue)) == 3
    assert time.monotonic() - started < 0.1  # full: no waiting
    started = time.monotonic()
    assert len(await stage.next_batch(queue)) == 2
    assert 0.15 < time.monotonic() - started < 2  # waited for a third, then went on


class WaitsForFiles:
    """An embedder that finishes only once a file of its batch was written: if the files were
    written after the embedding (not beside it), it would time out."""

    model_id = MODEL
    dim = TinyEmbedder.dim

    def __init__(self, written: threading.Event) -> None:
        self.written = written
        self.threads: list[str] = []
        self.saw_a_file: list[bool] = []

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        self.saw_a_file.append(self.written.wait(5))
        return TinyEmbedder().embed(images)


class SignalsWrites(FileBlobStore):
    def __init__(self, root: Any, written: threading.Event) -> None:
        super().__init__(root)
        self.written = written
        self.threads: list[str] = []

    def put_image(self, image: DecodedImage, original: bytes | None) -> tuple[str, str]:
        self.threads.append(threading.current_thread().name)
        paths = super().put_image(image, original)
        self.written.set()
        return paths


async def test_files_are_written_on_the_io_threads_while_the_batch_is_embedded(
    stores: Stores, resume: asyncio.Event, tmp_path: Any
) -> None:
    written = threading.Event()
    embedder = WaitsForFiles(written)
    blobs = SignalsWrites(tmp_path / "blobs", written)
    stage = _stage(stores, stores.ledger(), resume, embedder=embedder, blobs=blobs)
    await stage.process(_normals(MemorySource({}), 4))
    assert embedder.saw_a_file == [True]
    assert [t.split("_")[0] for t in embedder.threads] == ["astrolens-ml"]
    assert len(blobs.threads) == 4 and all(t.startswith("astrolens-io") for t in blobs.threads)
    assert stores.db(lambda r: r.count_images()) == 4


async def test_a_new_kind_is_stored_at_once_buffered_then_ranked_within_itself(
    stores: Stores, resume: asyncio.Event
) -> None:
    ledger = stores.ledger()
    stage = _stage(stores, ledger, resume)
    transactions = count_calls(stores.repo, "add_scored_images")
    finished = count_calls(stores.repo, "finish_files")
    source = MemorySource({})
    await stage.process(_normals(source, 10))
    await stage.process(_normals(source, 6, start=10))
    assert [len(args[0]) for args in transactions] == [10, 6]  # one per batch
    assert [len(args[0]) for args in finished] == [10, 6]  # the files too: not one per file
    assert stores.db(lambda r: r.count_images()) == 16 and len(source.done) == 16
    (kind,) = stage.scoring.groups_with_pending()
    assert stage.scoring.pending(kind) == 16
    assert not stores.of(ImageScored)  # no reference yet: nothing judged

    await stage.flush_all()
    assert stage.scoring.pending(kind) == 0
    verdicts = [e.verdict for e in stores.of(ImageScored)]
    assert len(verdicts) == 16 and Verdict.ANOMALY not in verdicts  # capped at near-miss
    (note,) = ledger.report.new_kinds
    assert (note.references, note.needed, note.batch) == (0, 20, 16)


async def test_a_kind_with_a_reference_is_judged_in_the_batch(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = MemorySource({})
    first = _stage(stores, stores.ledger(), resume)
    await first.process(_normals(source, 30))
    await first.flush_all()
    stores.events.clear()

    ledger = stores.ledger()
    matches: MatchQueue = asyncio.Queue()
    stage = _stage(stores, ledger, resume, matches=matches)
    odd = embed_items(source, [("mem://odd/0.png", hsc_odd(0)), ("mem://odd/1.png", hsc_odd(1))])
    await stage.process([*_normals(source, 4, start=100), *odd])
    assert not stage.scoring.groups_with_pending()
    scores = {s.record.provenance.uri: s.result for s in ledger.report.scored if s.result}
    assert len(scores) == 6 and all(r.calibration_version for r in scores.values())
    odd_scores = [r.score for u, r in scores.items() if "/odd/" in u]
    normal_scores = [r.score for u, r in scores.items() if "/normal/" in u]
    assert min(odd_scores) > max(normal_scores)
    flagged = {r.candidate.image.provenance.uri for r in await drain(matches)}
    assert flagged and flagged == {u for u, r in scores.items() if r.verdict is not Verdict.NORMAL}


async def test_a_kind_buffering_past_its_limit_is_ranked_without_waiting_for_the_cycle_end(
    stores: Stores, resume: asyncio.Event
) -> None:
    ledger = stores.ledger()
    stage = _stage(stores, ledger, resume, bootstrap_flush_at=8)
    await stage.process(_normals(MemorySource({}), 9))
    assert not stage.scoring.groups_with_pending()
    assert len(stores.of(ImageScored)) == 9 and len(ledger.report.new_kinds) == 1


class PressesPause:
    """The user presses Pause while the batch is being embedded (seconds on a busy CPU)."""

    model_id = MODEL
    dim = TinyEmbedder.dim

    def __init__(self, loop: asyncio.AbstractEventLoop, resume: asyncio.Event) -> None:
        self.loop, self.resume = loop, resume

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        self.loop.call_soon_threadsafe(self.resume.clear)
        time.sleep(0.1)
        return TinyEmbedder().embed(images)


async def test_pause_during_embedding_holds_the_batch_out_of_the_store_until_resume(
    stores: Stores, resume: asyncio.Event
) -> None:
    embedder = PressesPause(asyncio.get_running_loop(), resume)
    stage = _stage(stores, stores.ledger(), resume, embedder=embedder)
    queue: EmbedQueue = asyncio.Queue()
    for item in _normals(MemorySource({}), 3):
        queue.put_nowait(item)
    worker = asyncio.create_task(stage.run(queue), name="astrolens-test-embed")
    await asyncio.sleep(0.6)
    assert not resume.is_set()
    assert stores.db(lambda r: r.count_images()) == 0  # embedded, held before its transaction
    assert not worker.done()
    resume.set()
    await asyncio.wait_for(queue.join(), 10)
    worker.cancel()
    assert stores.db(lambda r: r.count_images()) == 3
