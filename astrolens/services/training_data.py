"""The rows a fine-tuning run learns from: verification labels (vectors or stored images), a
labelled dataset, or both when they share the labels' two classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from astrolens.domain.images import FloatImage, ImageRecord
from astrolens.domain.learning import TrainingRequest
from astrolens.domain.ports import ImageStore, LearningStore, VectorStore
from astrolens.pipeline.learning import CancelledFn, ProgressFn
from astrolens.services.context import ServiceContext
from astrolens.services.heads import LABEL_CLASSES, LABELS_TASK

Item = TypeVar("Item")


class LabelledStore(LearningStore, ImageStore, VectorStore, Protocol):
    """What reading the labelled images needs: labels, images, and their vectors."""


@dataclass
class Prepared:
    """A run's rows: features `x`, class indices `y`, the stratum (source) of each row and a
    stable key ("image:12", "Galaxy10_DECals#345") that later runs use to tell which rows a
    head was trained on."""

    task: str
    classes: tuple[str, ...]
    x: Any
    y: Any
    strata: list[str]
    keys: list[str]


def embed_dataset(
    app: ServiceContext, request: TrainingRequest, progress: ProgressFn, cancelled: CancelledFn
) -> Prepared:
    from astrolens.ml.learning.datasets import open_labelled_dataset
    from astrolens.ml.learning.finetune import TrainingCancelled

    assert request.dataset is not None
    data = open_labelled_dataset(request.dataset)
    indices = np.arange(len(data))
    if request.max_images is not None and request.max_images < len(data):
        indices = np.random.default_rng(0).choice(len(data), request.max_images, replace=False)
    chunks, labels = [], []
    for images, batch_labels in data.batches(indices.tolist(), batch_size=32):
        if cancelled():
            raise TrainingCancelled
        # one short batch at a time on the ml thread: discovery's batches interleave
        chunks.append(app.executors.ml.submit(app.embedder.embed, images).result())
        labels.append(batch_labels)
        progress(0.5 * sum(len(c) for c in chunks) / len(indices), "embedding the dataset")
    features = np.concatenate(chunks)
    keys = [f"{data.name}#{i}" for i in indices.tolist()]
    return Prepared(
        f"dataset:{data.name}", data.classes, features, np.concatenate(labels), [], keys
    )


# Class-folder names that mean the labels' two classes (e.g. a folder of past discoveries).
LABEL_ALIASES = {
    "interesting": 1,
    "true_positive": 1,
    "tp": 1,
    "not_interesting": 0,
    "false_positive": 0,
    "fp": 0,
}


def with_labels(app: ServiceContext, data: Prepared) -> Prepared:
    """The dataset's rows joined to the verification labels, when its classes are the same
    two ("interesting" / "not_interesting", or true/false positive): one head learns both."""
    classes = data.classes
    mapped = [LABEL_ALIASES.get(c.lower().replace(" ", "_").replace("-", "_")) for c in classes]
    if None in mapped or len(set(mapped)) != 2:
        raise ValueError(
            f"the dataset's classes ({', '.join(classes)}) are not interesting / "
            "not_interesting: train on it alone (without --with-labels), or name its class "
            "folders interesting and not_interesting"
        )
    y_dataset = np.asarray([mapped[int(i)] for i in data.y])
    mine = Prepared(
        LABELS_TASK,
        LABEL_CLASSES,
        data.x,
        y_dataset,
        data.strata or ["dataset"] * len(y_dataset),
        data.keys,
    )
    try:
        labels = label_data(app)
    except ValueError:  # no usable labels yet: the dataset alone still trains the head
        return mine
    return Prepared(
        LABELS_TASK,
        LABEL_CLASSES,
        np.concatenate([mine.x, labels.x]),
        np.concatenate([mine.y, labels.y]),
        [*mine.strata, *labels.strata],
        [*mine.keys, *labels.keys],
    )


def labelled(
    app: ServiceContext, pick: Callable[[LabelledStore, int, ImageRecord], Item | None]
) -> tuple[list[Item], list[int], list[str], list[str]]:
    """(what `pick(repo, image_id, record)` gives, 1 = interesting, source, key) for every
    image whose latest label is true or false positive and that `pick` can use (not None)."""

    def read(repo: LabelledStore) -> tuple[list[Item], list[int], list[str], list[str]]:
        items: list[Item] = []
        ys: list[int] = []
        strata: list[str] = []
        keys: list[str] = []
        latest = {label.image_id: label for label in repo.labels()}  # ascending: latest wins
        for image_id, label in sorted(latest.items()):
            record = repo.get_image(image_id)
            if label.value.value == "unsure" or record is None:
                continue
            item = pick(repo, image_id, record)
            if item is None:
                continue
            items.append(item)
            ys.append(1 if label.value.value == "true_positive" else 0)
            strata.append(record.provenance.source_id)
            keys.append(f"image:{image_id}")
        return items, ys, strata, keys

    items, ys, strata, keys = app.db(read)
    if len(set(ys)) < 2:
        raise ValueError("need true- and false-positive labels to train on the labels")
    return items, ys, strata, keys


def label_data(app: ServiceContext) -> Prepared:
    model_id = app.embedder.model_id
    vectors, ys, strata, keys = labelled(
        app, lambda repo, image_id, _record: repo.embedding_vector(image_id, model_id)
    )
    return Prepared(LABELS_TASK, LABEL_CLASSES, np.stack(vectors), np.asarray(ys), strata, keys)


def label_images(app: ServiceContext) -> Prepared:
    """The labelled images (x: their pixels, read lazily from the archive)."""
    from astrolens.ml.learning.datasets import LazyImages
    from astrolens.services.batch_score import decode_stored

    def stored_file(_repo: LabelledStore, _image_id: int, record: ImageRecord) -> str | None:
        path = record.image_path
        return path if path and Path(path).exists() else None  # gone: nothing to train on

    paths, ys, strata, keys = labelled(app, stored_file)

    def decode(rows: Sequence[int]) -> list[FloatImage]:
        return [decode_stored(app.decoder, Path(paths[k])).pixels for k in rows]

    images = LazyImages(decode, range(len(paths)))
    return Prepared(LABELS_TASK, LABEL_CLASSES, images, np.asarray(ys), strata, keys)
