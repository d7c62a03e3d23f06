"""What a batched store write takes, and what it gives back (so nobody re-reads it).

The pipeline persists one embed batch in one transaction; each image comes back as the record
it became, or as the duplicate it turned out to be, with its candidate when its verdict made
one. The events and the cross-match queue carry these objects as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from astrolens.domain.candidates import Candidate
from astrolens.domain.embedding import Embedding
from astrolens.domain.images import DecodedImage, ImageRecord
from astrolens.domain.scoring import ScoreResult


@dataclass(frozen=True, slots=True)
class NewImage:
    """One image to store with its vector and, unless its group is bootstrapping, its score."""

    image: DecodedImage
    image_path: str | None
    thumbnail_path: str | None
    embedding: Embedding
    model_id: str
    result: ScoreResult | None


@dataclass(frozen=True, slots=True)
class StoredImage:
    """The outcome of one NewImage.

    `duplicate` is the stored record it turned out to repeat (then nothing was written but a
    sighting, and `record` is that duplicate); otherwise `record` is the new row, and
    `candidate` is set when the score made it an anomaly or a near-miss.
    """

    record: ImageRecord
    duplicate: bool = False
    candidate: Candidate | None = None
