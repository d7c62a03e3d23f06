"""What travels between the discovery stages, and the typed queues that carry it.

Persist is called in line by embed_score (a `ScoredBatch`, not a queue): the batch's one
transaction must come before the next batch is judged, because a bootstrapping kind's stored
but unscored images are kept out of its reference only once they are buffered, right after
the transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from astrolens.domain.candidates import Candidate
from astrolens.domain.images import DecodedImage, RawImage
from astrolens.domain.ports import ImageSource
from astrolens.domain.scoring import ScoreResult
from astrolens.domain.sources import FetchTask


@dataclass
class TaskTracker:
    """Counts a task's images still in flight; the cursor moves only when all are stored."""

    source: ImageSource
    task: FetchTask
    remaining: int = 0
    failed: bool = False
    # The file gives several images, listed as unfinished until the last one is stored.
    multi: bool = False


class FetchJob(NamedTuple):
    source: ImageSource
    task: FetchTask


class Fetched(NamedTuple):
    tracker: TaskTracker
    raw: RawImage


@dataclass(slots=True)
class EmbedItem:
    """One decoded image on its way to the store; `original` is the file's bytes when they
    are kept (a whole image from a single file, not a stamp)."""

    tracker: TaskTracker
    image: DecodedImage
    original: bytes | None
    vector: np.ndarray | None = None
    result: ScoreResult | None = None  # None: its kind is still bootstrapping


@dataclass(slots=True)
class ScoredBatch:
    """An embedded and judged batch, its files still being written (one future per item)."""

    items: list[EmbedItem]  # in arrival order: the order of the transaction
    blob_writes: Sequence[asyncio.Future[tuple[str, str]]]


class MatchRequest(NamedTuple):
    candidate: Candidate
    notify: bool  # held for the scan's notification once checked (False: a retry)


FetchQueue = asyncio.Queue[FetchJob]
FetchedQueue = asyncio.Queue[Fetched]
EmbedQueue = asyncio.Queue[EmbedItem]
MatchQueue = asyncio.Queue[MatchRequest]
