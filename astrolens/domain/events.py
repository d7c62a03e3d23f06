"""Typed events the pipeline emits. The UI turns them into Qt signals; the CLI prints them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from astrolens.domain.annotation import Annotation
from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.labels import Label
from astrolens.domain.scoring import Verdict
from astrolens.domain.sources import SourceStatus


class PipelineState(enum.StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"
    IDLE = "idle"  # between cycles
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class PipelineStateChanged:
    state: PipelineState
    message: str = ""


@dataclass(frozen=True, slots=True)
class CycleStarted:
    cycle: int
    planned: int


@dataclass(frozen=True, slots=True)
class Unusual:
    """One of a scan's most unusual images, named for a person (file name, or frame + stamp)."""

    image_id: int
    name: str
    score: float
    p_value: float


@dataclass(frozen=True, slots=True)
class CycleFinished:
    cycle: int
    ingested: int
    duplicates: int
    quarantined: int
    anomalies: int
    near_misses: int
    seconds: float
    # When nothing was significant: the most unusual few, queued for review all the same,
    # and the sentence that says how large the reference must grow before verdicts count.
    most_unusual: tuple[Unusual, ...] = ()
    significance: str = ""


@dataclass(frozen=True, slots=True)
class ImageScored:
    image_id: int
    source_id: str
    verdict: Verdict
    score: float
    p_value: float


@dataclass(frozen=True, slots=True)
class CandidateFound:
    candidate: Candidate


@dataclass(frozen=True, slots=True)
class CatalogChecked:
    """The catalogs were asked (verdict PENDING, no candidate yet) or answered: then
    `candidate` is the record as the one transaction that stored the answers returned it, so
    a view updates its row from the event instead of reading the store again."""

    image_id: int
    verdict: CatalogVerdict
    candidate: Candidate | None = None


@dataclass(frozen=True, slots=True)
class DuplicateSeen:
    image_id: int
    uri: str


@dataclass(frozen=True, slots=True)
class ImageQuarantined:
    uri: str
    reason: str


@dataclass(frozen=True, slots=True)
class SourceStatusChanged:
    status: SourceStatus


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    stage: str = ""


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """A one-off folder scan: `done` of the folder's `total` files handled so far."""

    what: str
    done: int
    total: int

    def text(self) -> str:
        return f"Scanning {self.done}/{self.total}" + (f" ({self.what})" if self.what else "")


@dataclass(frozen=True, slots=True)
class ScanFinished:
    """A one-off folder scan ended: what it stored, and whether it ran to the end."""

    what: str
    total: int
    ingested: int
    duplicates: int
    quarantined: int
    anomalies: int
    near_misses: int
    seconds: float
    completed: bool = True
    most_unusual: tuple[Unusual, ...] = ()
    significance: str = ""

    def text(self) -> str:
        head = f"Scanned {self.what}" if self.completed else f"Scan of {self.what} stopped"
        text = (
            f"{head}: {self.total} files, {self.ingested} new images, "
            f"{self.duplicates} already known, {self.quarantined} unreadable; "
            f"{self.anomalies} anomalies, {self.near_misses} near-misses"
        )
        if self.most_unusual:
            text += f"; {len(self.most_unusual)} most unusual so far queued for review"
        return text


@dataclass(frozen=True, slots=True)
class TrainingEnded:
    """A fine-tuning run stopped: finished (kept or not), failed or cancelled. Its record in
    the store says which and why."""

    name: str
    ok: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class LabelAdded:
    """A person labelled a candidate (window, notification, API or CLI)."""

    label: Label


@dataclass(frozen=True, slots=True)
class AnnotationAdded:
    """An LLM annotation was stored for an image."""

    annotation: Annotation


Event = (
    PipelineStateChanged
    | CycleStarted
    | CycleFinished
    | ImageScored
    | CandidateFound
    | CatalogChecked
    | DuplicateSeen
    | ImageQuarantined
    | SourceStatusChanged
    | Progress
    | ScanProgress
    | ScanFinished
    | TrainingEnded
    | LabelAdded
    | AnnotationAdded
)
