"""The heads that fine-tuning runs promoted: where they live, which one applies, and what
they say about an image. A head belongs to one backbone (its model id): after a model change
the old heads stay on disk but are never applied to the new vectors."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from astrolens.domain.learning import HeadPrediction
from astrolens.domain.ports import Matrix
from astrolens.services.context import ServiceContext

if TYPE_CHECKING:
    from astrolens.ml.learning.finetune import ClassifierHead

log = logging.getLogger(__name__)

LABEL_CLASSES = ("not_interesting", "interesting")
LABELS_TASK = "labels"  # the head trained on verification labels: P(interesting)


def heads_dir(app: ServiceContext) -> Path:
    return Path(app.paths.models_dir) / "heads"


def head_file_name(task: str) -> str:
    """A file name for any task name ("dataset:Galaxy10_DECals" has a colon, which Windows
    forbids): the head's own metadata keeps the real name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", task) + ".npz"


def current_head_path(app: ServiceContext, task: str) -> Path:
    return heads_dir(app) / head_file_name(task)


def predict_with_heads(heads: Path, model_id: str, vector: Matrix | None) -> list[HeadPrediction]:
    """Blocking (ml thread): every promoted head of this model applied to one vector, the
    labels head first."""
    if vector is None or not heads.is_dir():
        return []
    found = []
    for path in sorted(heads.glob("*.npz")):
        head = promoted_head(heads, path.stem, model_id, len(vector))
        if head is None:
            continue
        p = head.predict_proba(np.asarray(vector, dtype=np.float32)[None, :])[0]
        order = np.argsort(-p, kind="mergesort")[:3]
        task = str(head.meta.get("task", path.stem))
        run = head.meta.get("run_id")
        top = tuple((head.classes[i], float(p[i])) for i in order)
        found.append(HeadPrediction(task, int(run) if run is not None else None, top))
    return sorted(found, key=lambda h: (h.task != LABELS_TASK, h.task))


def promoted_head(
    heads: Path | None, task: str, model_id: str, dim: int | None = None
) -> ClassifierHead | None:
    """The head a run promoted for `task` on this backbone, or None. A head of another
    backbone (the model changed since) or an unreadable file is ignored: its logits would
    mean nothing for these vectors."""
    if heads is None:
        return None
    path = heads / head_file_name(task)
    if not path.exists():
        return None
    from astrolens.ml.learning.finetune import ClassifierHead

    try:
        head = ClassifierHead.load(path)
    except Exception as exc:
        log.warning("ignoring unreadable head %s: %s", path, exc)
        return None
    if head.backbone_model_id != model_id or (dim is not None and head.weight.shape[1] != dim):
        return None
    return head
