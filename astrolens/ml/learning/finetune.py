"""Fine-tune a classification head on frozen embeddings, and keep it only if it is better.

Why the head and not the backbone: on a 2-core CPU a backbone epoch over Galaxy10 takes hours,
while the head trains in seconds on cached embeddings, and the stored archive's embeddings
stay valid (the backbone, hence `model_id` of the vectors, does not change), so nothing needs
re-embedding. Backbone blocks are left for a machine with a GPU (see the report).

The promotion rule: a new head is promoted only if its accuracy on held-out labels (never
seen in training) beats the current head's on the same rows; with no current head, it must
beat the majority-class guess.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from astrolens.ml.embedders.torch_runtime import torch_module

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]


class TrainingCancelled(Exception):
    """The user cancelled the run; nothing was promoted."""


@dataclass(frozen=True)
class HeadHyperParameters:
    epochs: int = 200
    learning_rate: float = 0.01
    weight_decay: float = 1e-3
    batch_size: int = 256
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ClassifierHead:
    """A linear softmax head over one backbone's L2-normalised embeddings."""

    backbone_model_id: str
    classes: tuple[str, ...]
    weight: npt.NDArray[np.float32]  # (C, D)
    bias: npt.NDArray[np.float32]  # (C,)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        digest = hashlib.sha256(self.weight.tobytes() + self.bias.tobytes()).hexdigest()[:8]
        return f"{self.backbone_model_id}+head:{digest}"

    def logits(self, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
        x = np.asarray(features, dtype=np.float64)
        return np.asarray(x @ self.weight.T.astype(np.float64) + self.bias)

    def predict_proba(self, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
        z = self.logits(features)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def predict(self, features: npt.ArrayLike) -> npt.NDArray[np.int64]:
        return np.asarray(self.logits(features).argmax(axis=1), dtype=np.int64)

    def save(self, path: Path) -> None:
        """npz with the arrays and a JSON header; written atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        header = json.dumps(
            {"backbone_model_id": self.backbone_model_id, "classes": self.classes, **self.meta}
        )
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, weight=self.weight, bias=self.bias, header=np.array(header))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ClassifierHead:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            weight, bias = data["weight"].astype(np.float32), data["bias"].astype(np.float32)
        backbone = header.pop("backbone_model_id")
        classes = tuple(header.pop("classes"))
        return cls(backbone, classes, weight, bias, header)


def accuracy_metrics(
    truth: npt.ArrayLike, predicted: npt.ArrayLike, n_classes: int
) -> dict[str, float]:
    t = np.asarray(truth, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    if len(t) == 0:
        return {"accuracy": float("nan"), "balanced_accuracy": float("nan"), "n": 0.0}
    recalls = [float((p[t == c] == c).mean()) for c in range(n_classes) if (t == c).any()]
    return {
        "accuracy": float((t == p).mean()),
        "balanced_accuracy": float(np.mean(recalls)),
        "n": float(len(t)),
    }


def majority_metrics(
    train_labels: npt.ArrayLike, truth: npt.ArrayLike, n_classes: int
) -> dict[str, float]:
    """What guessing the training set's most common class scores: the floor to beat."""
    counts = np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=n_classes)
    guess = np.full(len(np.asarray(truth)), int(counts.argmax()))
    return accuracy_metrics(truth, guess, n_classes)


def stratified_split(
    labels: npt.ArrayLike,
    strata: Sequence[str] | None = None,
    holdout: float = 0.25,
    seed: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(train rows, held-out rows): every (stratum, class) cell contributes `holdout` of its
    rows (at least one when it has two or more), so e.g. each survey is represented in both
    halves in proportion and a head cannot look good by the survey mix alone."""
    y = np.asarray(labels)
    keys = [f"{s}|{c}" for s, c in zip(strata or [""] * len(y), y.tolist(), strict=True)]
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for key in sorted(set(keys)):
        rows = np.array([i for i, k in enumerate(keys) if k == key])
        rng.shuffle(rows)
        n_held = round(holdout * len(rows)) if len(rows) > 1 else 0
        n_held = max(n_held, 1) if len(rows) > 1 else 0
        held.extend(rows[:n_held].tolist())
        train.extend(rows[n_held:].tolist())
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(held), dtype=np.int64)


def train_head(
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
    classes: Sequence[str],
    backbone_model_id: str,
    params: HeadHyperParameters | None = None,
    *,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> ClassifierHead:
    """Full-batch-ish AdamW on a linear softmax head, class-balanced loss. Blocking (torch)."""
    torch = torch_module()  # one clear message where torch is missing (the bundle)

    hp = params or HeadHyperParameters()
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    n_classes = len(classes)
    if len(x) == 0 or n_classes < 2:
        raise ValueError("need labelled rows of at least two classes")
    generator = torch.Generator().manual_seed(hp.seed)
    counts = torch.bincount(y, minlength=n_classes).float()
    # balanced: rare classes (mergers, lenses) are what the user cares about most
    class_weight = torch.where(counts > 0, counts.sum() / (n_classes * counts), 0.0)
    head = torch.nn.Linear(x.shape[1], n_classes)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    optimiser = torch.optim.AdamW(
        head.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weight)
    # The features are unit vectors with small components: scale so the head's logits reach
    # useful magnitudes within a few hundred steps.
    scale = float(np.sqrt(x.shape[1]))
    for epoch in range(hp.epochs):
        if cancelled is not None and cancelled():
            raise TrainingCancelled
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), hp.batch_size):
            rows = order[start : start + hp.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(head(x[rows] * scale), y[rows])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
        if progress is not None:
            progress(
                (epoch + 1) / hp.epochs, f"epoch {epoch + 1}/{hp.epochs} loss {total / len(x):.3f}"
            )
    weight = (head.weight.detach().numpy() * scale).astype(np.float32)
    bias = head.bias.detach().numpy().astype(np.float32)
    return ClassifierHead(backbone_model_id, tuple(classes), weight, bias, {"params": hp.as_dict()})


def should_promote(
    before: dict[str, float], after: dict[str, float], metric: str = "balanced_accuracy"
) -> bool:
    """Strictly better on the same held-out rows; a tie keeps the current model."""
    b, a = before.get(metric, float("nan")), after.get(metric, float("nan"))
    if np.isnan(a):
        return False
    return bool(np.isnan(b) or a > b)
