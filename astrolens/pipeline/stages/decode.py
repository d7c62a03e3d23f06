"""The second stage: decode a download into its images (a frame may give stamps too), drop
the ones already stored, and hand the rest to embed_score.

Duplicates are looked up once per frame, in one trip to the db thread; repeats within the
cycle are caught again, for free, by the embed batch's own transaction.
"""

from __future__ import annotations

import asyncio
import logging

from astrolens.domain.errors import TemporarilyUnreadableError, UnreadableImageError
from astrolens.domain.ports import Decoder, Repository
from astrolens.pipeline.executors import Executors, run_in
from astrolens.pipeline.stages.handoff import EmbedItem, EmbedQueue, FetchedQueue
from astrolens.pipeline.stages.ledger import CycleLedger

log = logging.getLogger(__name__)


class DecodeStage:
    def __init__(
        self,
        *,
        decoder: Decoder,
        repository: Repository,
        executors: Executors,
        ledger: CycleLedger,
        resume: asyncio.Event,
    ) -> None:
        self.decoder = decoder
        self.repo = repository
        self.ex = executors
        self.ledger = ledger
        self.resume = resume  # cleared while paused

    async def run(self, fetched: FetchedQueue, out: EmbedQueue) -> None:
        """A decode worker: runs until cancelled."""
        ledger = self.ledger
        while True:
            tracker, raw = await fetched.get()
            try:
                await self.resume.wait()
                try:
                    images = await run_in(self.ex.io, self.decoder.decode, raw)
                except UnreadableImageError as exc:
                    temporary = isinstance(exc, TemporarilyUnreadableError)
                    await ledger.quarantine(tracker.task, str(exc), temporary=temporary)
                    await ledger.task_done(tracker.source, tracker.task)
                    continue
                except Exception as exc:  # a decoder bug must not kill the cycle
                    log.exception("decoder failed on %s", raw.provenance.uri)
                    await ledger.quarantine(tracker.task, f"decoder error: {exc}")
                    await ledger.task_done(tracker.source, tracker.task)
                    continue
                if len(images) > 1:
                    # A frame and its stamps: the file is done only when the last is stored.
                    tracker.multi = True
                    await run_in(self.ex.db, self.repo.begin_file, tracker.task.uri)
                fresh = []
                duplicates = await run_in(self.ex.db, self.repo.find_duplicates, images)
                for image, duplicate in zip(images, duplicates, strict=True):
                    if duplicate is None:
                        fresh.append(image)
                    else:
                        await ledger.record_duplicate(duplicate, image)
                if not fresh:
                    await ledger.task_done(tracker.source, tracker.task, tracker)
                    continue
                tracker.remaining = len(fresh)
                for image in fresh:
                    original = raw.data if image.parent_uri is None and not raw.companions else None
                    await out.put(EmbedItem(tracker, image, original))
            finally:
                fetched.task_done()
