"""What the UI and CLI may ask of the learning loop (a new, additive part of the domain).

The app's AgentRuntime implements `LearningController` next to `AgentController`; the UI's
training-history view sees only this Protocol and `TrainingRun` records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from astrolens.domain.candidates import Candidate
from astrolens.domain.records import TrainingRun

# The Progress event's `stage` while a fine-tuning run is going (done/total are per mille).
TRAINING_STAGE = "training"
REEMBED_STAGE = "re-embedding"


@dataclass(frozen=True, slots=True)
class TrainingRequest:
    """One fine-tuning run: the user's verified labels and/or a labelled dataset."""

    dataset: Path | None = None  # a Galaxy10-style .h5 or a folder-per-class tree
    use_labels: bool = True  # the verification labels (true/false positive)
    epochs: int | None = None  # None: the default of the kind of run (head 200, backbone 15)
    learning_rate: float | None = None  # None: likewise (head 0.01, backbone 3e-4)
    holdout: float = 0.25  # fraction of each (stratum, class) cell held out for promotion
    max_images: int | None = None  # cap on dataset images (embedding them is the slow part)
    backbone_blocks: int = 0  # also train the backbone's last N blocks (torch; a new model)


@dataclass(frozen=True, slots=True)
class HeadPrediction:
    """What one promoted head says about an image: its most likely classes, best first."""

    task: str  # "labels" (interesting to you) or "dataset:<name>" (e.g. Galaxy10 morphology)
    run_id: int | None  # the training run that produced the head
    top: tuple[tuple[str, float], ...]  # (class, probability), at most three

    def text(self) -> str:
        what = "Your labels" if self.task == "labels" else self.task.removeprefix("dataset:")
        classes = ", ".join(f"{name.replace('_', ' ')} {100 * p:.0f} %" for name, p in self.top)
        run = f" (run {self.run_id})" if self.run_id is not None else ""
        return f"{what}{run}: {classes}"


class LearningController(Protocol):
    async def label_next(self, n: int = 10) -> list[Candidate]:
        """The unlabelled candidates whose labels would teach the ranking the most."""
        ...

    async def rerank(self) -> int:
        """Re-score the queued candidates from the labels so far; returns how many."""
        ...

    def train(self, request: TrainingRequest) -> None:
        """Start a background fine-tuning run (progress arrives as Progress events)."""
        ...

    def cancel_training(self) -> None: ...

    @property
    def training_active(self) -> bool: ...

    async def training_runs(self) -> list[TrainingRun]: ...

    async def predictions(self, image_id: int) -> list[HeadPrediction]:
        """What every promoted head of the current model says about this image."""
        ...
