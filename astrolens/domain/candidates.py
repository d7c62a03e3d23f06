"""A candidate: an image whose verdict is anomaly or near-miss, with what we know about it."""

from __future__ import annotations

from dataclasses import dataclass

from astrolens.domain.crossmatch import CatalogVerdict, CrossMatch
from astrolens.domain.images import ImageRecord
from astrolens.domain.labels import Label
from astrolens.domain.scoring import ScoreResult


@dataclass(frozen=True, slots=True)
class Candidate:
    image: ImageRecord
    result: ScoreResult
    model_id: str
    crossmatches: tuple[CrossMatch, ...] = ()
    catalog_verdict: CatalogVerdict = CatalogVerdict.PENDING
    label: Label | None = None
    rank_score: float | None = None

    @property
    def id(self) -> int:
        return self.image.id
