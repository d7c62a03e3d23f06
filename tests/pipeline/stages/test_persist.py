"""PersistStage alone, over the real store and blob store: one transaction per batch in its
order, what each image becomes (new, duplicate, waiting for a score), cursors, the index,
and what is announced and sent on to the catalogs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.errors import StorageFullError
from astrolens.domain.events import CandidateFound, DuplicateSeen, ImageScored
from astrolens.domain.images import DecodedImage
from astrolens.domain.scoring import Verdict
from astrolens.ml.index.faiss_index import FaissIndex
from astrolens.pipeline.executors import run_in
from astrolens.pipeline.stages.handoff import EmbedItem, MatchQueue, ScoredBatch, TaskTracker
from astrolens.pipeline.stages.ledger import CycleLedger
from astrolens.pipeline.stages.persist import PersistStage
from astrolens.store.blobs import FileBlobStore
from tests.pipeline.stages.conftest import Stores, count_calls, drain, embed_items
from tests.pipeline.test_discovery import MemorySource, TinyEmbedder, hsc_normal, hsc_odd
from tests.store.builders import result

MODEL = TinyEmbedder.model_id


def _stage(
    stores: Stores, ledger: CycleLedger, matches: MatchQueue, index: FaissIndex | None = None
) -> PersistStage:
    return PersistStage(
        repository=stores.repo,
        executors=stores.ex,
        model_id=MODEL,
        ledger=ledger,
        emit=stores.events.append,
        matches=matches,
        index=index,
    )


def _batch(
    stores: Stores, items: list[EmbedItem], blobs: FileBlobStore | None = None
) -> ScoredBatch:
    """Embedded (TinyEmbedder) with the files' writes started on the io threads, as
    embed_score hands a batch over."""
    store = blobs or stores.blobs
    vectors = TinyEmbedder().embed([it.image.pixels for it in items])
    for item, vector in zip(items, vectors, strict=True):
        item.vector = vector
    writes = [
        asyncio.ensure_future(run_in(stores.ex.io, store.put_image, it.image, it.original))
        for it in items
    ]
    return ScoredBatch(items, writes)


async def test_a_batch_is_one_transaction_in_its_order_and_a_repeat_in_it_a_sighting(
    stores: Stores,
) -> None:
    source = MemorySource({})
    items = embed_items(
        source,
        [("mem://a.png", hsc_normal(0)), ("mem://b.png", hsc_normal(1)),
         ("mem://a-again.png", hsc_normal(0))],
    )  # fmt: skip
    transactions = count_calls(stores.repo, "add_scored_images")
    sightings = count_calls(stores.repo, "record_sighting")
    ledger = stores.ledger(planned=3)
    stage = _stage(stores, ledger, asyncio.Queue())

    stored = await stage.store(_batch(stores, items))
    assert [len(args[0]) for args in transactions] == [3]
    assert [s.duplicate for s in stored] == [False, False, True]
    assert stored[0].record.id < stored[1].record.id  # stored in the batch's order
    assert stored[2].record.id == stored[0].record.id
    paths = [Path(str(s.record.image_path)) for s in stored[:2]]
    assert all(await asyncio.to_thread(lambda: [p.exists() for p in paths]))

    finished: list[TaskTracker] = []
    waiting = [await stage.settle(it, s, finished) for it, s in zip(items, stored, strict=True)]
    assert waiting == [True, True, False]
    assert source.done == []  # the cursor moves for the whole batch at once
    await ledger.tasks_done(finished)  # stored unscored; the repeat was a sighting
    assert ledger.report.ingested == 2 and ledger.report.duplicates == 1
    assert [(e.image_id, e.uri) for e in stores.of(DuplicateSeen)] == [
        (stored[0].record.id, "mem://a-again.png")
    ]
    assert sightings == []  # the transaction stored the sighting already
    assert stores.db(lambda r: r.get_image(stored[0].record.id)).sightings == 2
    assert sorted(source.done) == ["mem://a-again.png", "mem://a.png", "mem://b.png"]
    assert not stores.of(ImageScored)  # unscored (a bootstrapping kind): nothing to announce


async def test_a_frame_moves_its_cursor_only_when_its_last_image_is_stored(
    stores: Stores,
) -> None:
    source = MemorySource({})
    frame, stamp = embed_items(source, [("mem://f.png", hsc_normal(2)), ("mem://s", hsc_normal(3))])
    stamp.tracker = frame.tracker
    frame.tracker.remaining = 2
    ledger = stores.ledger()
    stage = _stage(stores, ledger, asyncio.Queue())
    finished: list[TaskTracker] = []
    first = await stage.store(_batch(stores, [frame]))
    await stage.settle(frame, first[0], finished)
    assert finished == []
    second = await stage.store(_batch(stores, [stamp]))
    await stage.settle(stamp, second[0], finished)
    assert finished == [frame.tracker]
    await ledger.tasks_done(finished)
    assert source.done == ["mem://f.png"]


async def test_scores_are_announced_and_candidates_sent_on_to_the_catalogs(
    stores: Stores,
) -> None:
    source = MemorySource({})
    normal, odd = embed_items(source, [("mem://n.png", hsc_normal(4)), ("mem://o.png", hsc_odd(0))])
    normal.result = result(Verdict.NORMAL, score=0.5)
    odd.result = result(Verdict.ANOMALY, score=4.0)
    ledger = stores.ledger()
    matches: MatchQueue = asyncio.Queue()
    stage = _stage(stores, ledger, matches)
    stored = await stage.store(_batch(stores, [normal, odd]))
    assert stored[0].candidate is None and stored[1].candidate is not None
    finished: list[TaskTracker] = []
    waiting = [
        await stage.settle(it, s, finished) for it, s in zip([normal, odd], stored, strict=True)
    ]
    assert waiting == [False, False]

    scored = stores.of(ImageScored)
    assert [(e.image_id, e.verdict) for e in scored] == [
        (stored[0].record.id, Verdict.NORMAL),
        (stored[1].record.id, Verdict.ANOMALY),
    ]
    assert [e.candidate.id for e in stores.of(CandidateFound)] == [stored[1].record.id]
    (request,) = await drain(matches)
    assert request.candidate == stored[1].candidate and request.notify
    assert [(s.record.id, s.result) for s in ledger.report.scored] == [
        (stored[0].record.id, normal.result),
        (stored[1].record.id, odd.result),
    ]


async def test_scores_of_buffered_images_are_stored_together_and_announced(
    stores: Stores,
) -> None:
    source = MemorySource({})
    items = embed_items(source, [(f"mem://{i}.png", hsc_normal(10 + i)) for i in range(3)])
    matches: MatchQueue = asyncio.Queue()
    stage = _stage(stores, stores.ledger(), matches)
    stored = await stage.store(_batch(stores, items))
    ids = [s.record.id for s in stored]
    writes = count_calls(stores.repo, "add_scores")
    verdicts = [Verdict.NEAR_MISS, Verdict.NORMAL, Verdict.NORMAL]
    await stage.store_scores([(i, result(v)) for i, v in zip(ids, verdicts, strict=True)])
    assert len(writes) == 1
    announced = [(e.image_id, e.verdict) for e in stores.of(ImageScored)]
    assert announced == list(zip(ids, verdicts, strict=True))
    assert [r.candidate.id for r in await drain(matches)] == [ids[0]]
    assert stores.db(lambda r: r.latest_score(ids[0], MODEL)).verdict is Verdict.NEAR_MISS


async def test_the_index_gets_the_new_vectors_and_not_the_repeats(stores: Stores) -> None:
    source = MemorySource({})
    items = embed_items(
        source, [("mem://a.png", hsc_normal(5)), ("mem://again.png", hsc_normal(5))]
    )
    index = FaissIndex(MODEL, TinyEmbedder.dim)
    stored = await _stage(stores, stores.ledger(), asyncio.Queue(), index).store(
        _batch(stores, items)
    )
    assert len(index) == 1
    _, found = index.search(np.asarray(items[0].vector)[None, :], 1)
    assert int(found[0][0]) == stored[0].record.id


class FullDisk(FileBlobStore):
    def __init__(self, root: Path, full_for: str) -> None:
        super().__init__(root)
        self.full_for = full_for

    def put_image(self, image: DecodedImage, original: bytes | None) -> tuple[str, str]:
        if image.provenance.uri == self.full_for:
            raise StorageFullError("no space left on device")
        return super().put_image(image, original)


async def test_a_full_disk_stores_nothing_of_the_batch_and_keeps_that_cursor(
    stores: Stores, tmp_path: Path
) -> None:
    source = MemorySource({})
    ok, full = embed_items(
        source, [("mem://ok.png", hsc_normal(6)), ("mem://x.png", hsc_normal(7))]
    )
    ledger = stores.ledger()
    stage = _stage(stores, ledger, asyncio.Queue())
    blobs = FullDisk(tmp_path / "full", full_for="mem://x.png")
    with pytest.raises(StorageFullError):
        await stage.store(_batch(stores, [ok, full], blobs))
    assert stores.db(lambda r: r.count_images()) == 0
    assert full.tracker.failed and not ok.tracker.failed
    assert not ledger.finish_one(full.tracker)  # even once "done", a failed task is not finished
    assert source.done == []
