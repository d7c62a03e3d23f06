"""DecodeStage alone, with the real decoder and store: what goes on to embed, what is a
duplicate (looked up once per frame), what is quarantined, and pause."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from astrolens.domain.events import DuplicateSeen, ImageQuarantined, Progress
from astrolens.domain.images import DecodedImage, Provenance, RawImage
from astrolens.domain.sources import FetchTask
from astrolens.imaging.decoder import ImageDecoder
from astrolens.pipeline.stages.decode import DecodeStage
from astrolens.pipeline.stages.handoff import (
    EmbedItem,
    EmbedQueue,
    Fetched,
    FetchedQueue,
    TaskTracker,
)
from astrolens.pipeline.stages.ledger import CycleLedger
from tests.pipeline.stages.conftest import Stores, count_calls, drain, run_until_joined
from tests.pipeline.test_discovery import MemorySource, hsc_normal


class FrameWithStamps:
    """The real decoder, then a frame gives two stamps as well (as a FITS frame with two
    detected sources does): each stamp names its frame in `parent_uri`."""

    def __init__(self) -> None:
        self.inner = ImageDecoder()

    def decode(self, raw: RawImage) -> list[DecodedImage]:
        (frame,) = self.inner.decode(raw)
        stamps = [
            dataclasses.replace(
                frame,
                provenance=dataclasses.replace(frame.provenance, uri=f"{raw.provenance.uri}#{i}"),
                pixels=frame.pixels[i * 8 : i * 8 + 48, i * 8 : i * 8 + 48],
                content_hash=f"{frame.content_hash}-stamp{i}",
                perceptual_hash=f"{i + 1:016x}",
                parent_uri=raw.provenance.uri,
            )
            for i in range(2)
        ]
        return [frame, *stamps]


class BuggyDecoder:
    def decode(self, raw: RawImage) -> list[DecodedImage]:
        raise RuntimeError("index out of range")


def _fetched(source: MemorySource, uri: str, data: bytes) -> Fetched:
    task = FetchTask(source.id, uri, cursor=uri)
    return Fetched(TaskTracker(source, task), RawImage(Provenance(source.id, uri), "x.png", data))


async def _decode(
    stores: Stores, ledger: CycleLedger, resume: asyncio.Event, items: list[Fetched], **kw: Any
) -> list[EmbedItem]:
    stage = DecodeStage(
        decoder=kw.get("decoder", ImageDecoder()),
        repository=stores.repo,
        executors=stores.ex,
        ledger=ledger,
        resume=resume,
    )
    queue: FetchedQueue = asyncio.Queue()
    out: EmbedQueue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    await run_until_joined(stage.run(queue, out), queue)
    return await drain(out)


async def test_a_decoded_image_goes_on_with_its_file_bytes(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = MemorySource({})
    data = hsc_normal(0)
    ledger = stores.ledger()
    (item,) = await _decode(stores, ledger, resume, [_fetched(source, "mem://a.png", data)])
    assert item.image.provenance.uri == "mem://a.png" and item.image.pixels.ndim in (2, 3)
    assert item.original == data  # a whole image from one file keeps its bytes
    assert item.tracker.remaining == 1 and not item.tracker.multi
    assert item.vector is None and item.result is None
    assert source.done == [] and not ledger.report.duplicates


async def test_a_frame_and_its_stamps_go_on_together_and_the_file_stays_unfinished(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = MemorySource({})
    lookups = count_calls(stores.repo, "find_duplicates")
    begun = count_calls(stores.repo, "begin_file")
    items = await _decode(
        stores,
        stores.ledger(),
        resume,
        [_fetched(source, "mem://frame.png", hsc_normal(1))],
        decoder=FrameWithStamps(),
    )
    assert [len(args[0]) for args in lookups] == [3]  # one lookup for the whole frame
    assert begun == [("mem://frame.png",)]
    assert len(items) == 3 and len({id(it.tracker) for it in items}) == 1
    tracker = items[0].tracker
    assert tracker.multi and tracker.remaining == 3
    assert [it.original is not None for it in items] == [True, False, False]  # stamps: none
    # Listed as unfinished: a crash before its last stamp is stored plans it again.
    assert stores.db(lambda r: r.known_uris(["mem://frame.png"])) == set()


async def test_what_is_stored_already_is_a_sighting_and_its_task_is_done(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = MemorySource({})
    data = hsc_normal(2)
    (first,) = ImageDecoder().decode(RawImage(Provenance("mem", "mem://first.png"), "x.png", data))
    stored = stores.db(lambda r: r.add_image(first, None, None))
    finished = count_calls(stores.repo, "finish_files")
    ledger = stores.ledger(planned=2)
    out = await _decode(
        stores,
        ledger,
        resume,
        [
            _fetched(source, "mem://copy.png", data),  # the same bytes at another address
            _fetched(source, "mem://first.png", data),  # the stored file read again
        ],
    )
    assert out == []
    assert [(e.image_id, e.uri) for e in stores.of(DuplicateSeen)] == [
        (stored.id, "mem://copy.png")
    ]
    assert ledger.report.duplicates == 1
    assert stores.db(lambda r: r.get_image(stored.id)).sightings == 2  # not 3: no self-sighting
    assert sorted(source.done) == ["mem://copy.png", "mem://first.png"]
    assert sorted(uri for args in finished for uri in args[0]) == [
        "mem://copy.png",
        "mem://first.png",
    ]
    assert [p.done for p in stores.of(Progress)] == [1, 2]


async def test_undecodable_bytes_and_a_decoder_bug_are_quarantined(
    stores: Stores, resume: asyncio.Event
) -> None:
    source = MemorySource({})
    ledger = stores.ledger()
    html = b"<!DOCTYPE html><html><body>Rate limit exceeded</body></html>"
    out = await _decode(
        stores,
        ledger,
        resume,
        [_fetched(source, "mem://page.png", html), _fetched(source, "mem://cut.png", b"\x89PNG")],
    )
    assert out == [] and ledger.report.quarantined == 2
    assert {e.uri for e in stores.of(ImageQuarantined)} == {"mem://page.png", "mem://cut.png"}
    assert sorted(source.done) == ["mem://cut.png", "mem://page.png"]

    out = await _decode(
        stores,
        ledger,
        resume,
        [_fetched(source, "mem://ok.png", hsc_normal(3))],
        decoder=BuggyDecoder(),
    )
    assert out == []
    (entry,) = [q for q in stores.db(lambda r: r.quarantined()) if q.uri == "mem://ok.png"]
    assert entry.reason.startswith("decoder error: index out of range")


async def test_pause_holds_decoding_until_resume(stores: Stores, resume: asyncio.Event) -> None:
    source = MemorySource({})
    stage = DecodeStage(
        decoder=ImageDecoder(),
        repository=stores.repo,
        executors=stores.ex,
        ledger=stores.ledger(),
        resume=resume,
    )
    queue: FetchedQueue = asyncio.Queue()
    out: EmbedQueue = asyncio.Queue()
    queue.put_nowait(_fetched(source, "mem://a.png", hsc_normal(4)))
    resume.clear()
    worker = asyncio.create_task(stage.run(queue, out), name="astrolens-test-decode")
    await asyncio.sleep(0.3)
    assert out.empty()
    resume.set()
    await asyncio.wait_for(queue.join(), 10)
    worker.cancel()
    assert out.qsize() == 1
