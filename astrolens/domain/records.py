"""Read models the store hands to the app and the UI: history, quarantine, totals, gallery queries.

Kept in the domain (not in the store adapter) because the UI, which sees only the domain,
shows them and builds gallery queries.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.labels import LabelValue
from astrolens.domain.scoring import Verdict


class TrainingStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TrainingRun:
    """One attempt to improve a model from the user's labels, and whether it was kept."""

    id: int
    model_id: str
    parameters: dict[str, Any]
    data_description: str
    started_at: datetime
    status: TrainingStatus = TrainingStatus.RUNNING
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    promoted: bool = False
    finished_at: datetime | None = None

    @property
    def new_model(self) -> str | None:
        """The embedder spec of a promoted fine-tuned backbone: the model to switch to."""
        spec = self.parameters.get("new_model") if self.promoted else None
        return spec if isinstance(spec, str) else None


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A URI that failed to decode. Without `retry_at` it is not fetched again (unless a local
    file changes); with it, the failure looked temporary and it is tried again then."""

    uri: str
    reason: str
    count: int
    last_seen: datetime
    retry_at: datetime | None = None

    @property
    def temporary(self) -> bool:
        return self.retry_at is not None


@dataclass(frozen=True, slots=True)
class StoreStats:
    images: int
    by_verdict: dict[Verdict, int]
    by_source: dict[str, int]
    today: int
    candidates: int
    labelled: int
    quarantined: int


class LabelState(enum.StrEnum):
    """Gallery filter on what a person said: anything, nothing yet, or one label value."""

    ANY = "any"
    UNLABELLED = "unlabelled"
    LABELLED = "labelled"
    TRUE_POSITIVE = LabelValue.TRUE_POSITIVE.value
    FALSE_POSITIVE = LabelValue.FALSE_POSITIVE.value
    UNSURE = LabelValue.UNSURE.value


class CandidateOrder(enum.StrEnum):
    SCORE = "score"  # ensemble score, most anomalous first
    RANK_SCORE = "rank_score"  # the learned ranking, best first; unranked last
    NEWEST = "newest"


DEFAULT_CANDIDATE_VERDICTS: tuple[Verdict, ...] = (Verdict.ANOMALY, Verdict.NEAR_MISS)


@dataclass(frozen=True, slots=True)
class CandidateFilter:
    """What the gallery asks for. Every field narrows; the defaults show every candidate."""

    verdicts: tuple[Verdict, ...] = DEFAULT_CANDIDATE_VERDICTS
    source_id: str | None = None
    label_state: LabelState = LabelState.ANY
    catalog_verdicts: tuple[CatalogVerdict, ...] = ()
    min_score: float | None = None
    order: CandidateOrder = CandidateOrder.SCORE
