"""Fine-tuning runs: a head, or the backbone's last blocks with a head, trained on the train
thread, recorded in the store, and kept only if better on held-out labels."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from astrolens.domain.embedder_spec import LITE0, EmbedderSpec
from astrolens.domain.learning import TrainingRequest
from astrolens.domain.records import TrainingRun, TrainingStatus
from astrolens.pipeline.learning import CancelledFn, ProgressFn
from astrolens.services.context import ServiceContext
from astrolens.services.heads import LABELS_TASK, current_head_path
from astrolens.services.training_data import (
    Prepared,
    embed_dataset,
    label_data,
    label_images,
    with_labels,
)

if TYPE_CHECKING:
    from astrolens.ml.embedders.efficientnet_lite import EfficientNetLite0Embedder

log = logging.getLogger(__name__)

BACKBONE_MAX_IMAGES = 2000  # dataset images a backbone run uses unless told otherwise


def run_finetune(
    app: ServiceContext, request: TrainingRequest, progress: ProgressFn, cancelled: CancelledFn
) -> TrainingRun:
    """Blocking (train thread): one recorded run; its model is kept only if it is better.

    With `request.backbone_blocks` the backbone's last blocks are trained too, which makes a
    new embedder (`efficientnet-lite0+ft-<digest>`): the run records it as `new_model`, and
    switching to it re-embeds the archive (AgentRuntime does that when the run ends)."""
    hp = _hyper_parameters(request)
    backbone = app.embedder.model_id
    description = str(request.dataset) if request.dataset else "verification labels"
    parameters = {**hp.as_dict(), "holdout": request.holdout, "backbone": backbone}
    if request.backbone_blocks:
        parameters["backbone_blocks"] = request.backbone_blocks
    run = app.db(lambda r: r.add_training_run(backbone, parameters, description))
    job = _Run(app, request, hp, run.id, progress, cancelled)
    try:
        after, promoted, extra = (_backbone_run if request.backbone_blocks else _head_run)(job)
        before = job.before
        finished: TrainingRun = app.db(
            lambda r: r.finish_training_run(
                run.id,
                status=TrainingStatus.FINISHED,
                metrics_before=before,
                metrics_after=after,
                promoted=promoted,
                parameters=extra,
            )
        )
        log.info("training run %s: %s -> %s, promoted=%s", run.id, before, after, promoted)
        return finished
    except Exception as exc:
        from astrolens.ml.learning.finetune import TrainingCancelled

        reason = "cancelled" if isinstance(exc, TrainingCancelled) else str(exc)[:200]
        app.db(
            lambda r: r.finish_training_run(
                run.id,
                status=TrainingStatus.FAILED,
                metrics_before=job.before,
                metrics_after={},
                promoted=False,
                parameters={"error": reason},
            )
        )
        log.warning("training run %s ended: %s", run.id, reason)
        raise


@dataclass
class _Run:
    """What one fine-tuning run works with; `before` is filled in once it is measured, so a
    failed run still records it."""

    app: ServiceContext
    request: TrainingRequest
    hp: Any  # HeadHyperParameters or BackboneHyperParameters
    run_id: int
    progress: ProgressFn
    cancelled: CancelledFn
    before: dict[str, float] = field(default_factory=dict)


def _hyper_parameters(request: TrainingRequest) -> Any:
    """The request's settings over the defaults of its kind of run."""
    from astrolens.ml.learning.backbone import BackboneHyperParameters
    from astrolens.ml.learning.finetune import HeadHyperParameters

    kind: Any = BackboneHyperParameters if request.backbone_blocks else HeadHyperParameters
    given: dict[str, Any] = {"epochs": request.epochs, "learning_rate": request.learning_rate}
    if request.backbone_blocks:
        given["blocks"] = request.backbone_blocks
    return kind(**{k: v for k, v in given.items() if v is not None})


def _compare(
    app: ServiceContext, data: Prepared, train: Any, held: Any, x_held: Any
) -> tuple[dict[str, float], Any]:
    """What the run must beat, and on which held-out rows: the current head of this task and
    backbone, scored only on held-out rows it was not trained on (a head looks better on its
    own training rows, which would keep every later head from being promoted), or, with no
    current head, the majority-class guess. Returns (metrics, positions within `held`)."""
    from astrolens.ml.learning.finetune import ClassifierHead, accuracy_metrics, majority_metrics

    rows = np.arange(len(held))
    current = current_head_path(app, data.task)
    old = ClassifierHead.load(current) if current.exists() else None
    if old is None or old.classes != data.classes or old.backbone_model_id != app.embedder.model_id:
        before = majority_metrics(data.y[train], data.y[held], len(data.classes))
        before["baseline_is_majority"] = 1.0
        return before, rows
    seen = set(old.meta.get("trained_on", []))
    unseen = np.array([i for i in rows if data.keys[held[i]] not in seen], dtype=np.int64)
    if len(unseen) >= 2:
        rows = unseen
    y_held = data.y[held][rows]
    before = accuracy_metrics(y_held, old.predict(np.asarray(x_held)[rows]), len(data.classes))
    before["unseen_by_current"] = float(len(rows) == len(unseen))
    return before, rows


def _split(y: Any, strata: list[str], holdout: float, seed: int) -> tuple[Any, Any]:
    from astrolens.ml.learning.finetune import stratified_split

    train, held = stratified_split(y, strata or None, holdout, seed=seed)
    if len(held) == 0 or len(set(y[train].tolist())) < 2:
        raise ValueError("too few labelled rows for a held-out evaluation")
    return train, held


def _head_run(job: _Run) -> tuple[dict[str, float], bool, dict[str, Any]]:
    app, request, hp = job.app, job.request, job.hp
    progress, cancelled = job.progress, job.cancelled
    from astrolens.ml.learning.finetune import accuracy_metrics, should_promote, train_head

    if request.dataset is not None:
        data = embed_dataset(app, request, progress, cancelled)
        if request.use_labels:  # the user's own labels plus a labelled set of the same kind
            data = with_labels(app, data)
    elif request.use_labels:
        data = label_data(app)
    else:
        raise ValueError("nothing to train on: give a dataset or use the labels")
    x, y = data.x, data.y
    train, held = _split(y, data.strata, request.holdout, hp.seed)
    job.before, rows = _compare(app, data, train, held, x[held])
    start = 0.5 if request.dataset is not None else 0.0

    def head_progress(fraction: float, message: str) -> None:
        progress(start + (1 - start) * fraction, message)

    head = train_head(
        x[train],
        y[train],
        data.classes,
        app.embedder.model_id,
        hp,
        progress=head_progress,
        cancelled=cancelled,
    )
    compared = held[rows]
    after = accuracy_metrics(y[compared], head.predict(x[compared]), len(data.classes))
    promoted = should_promote(job.before, after)
    if promoted:
        head.meta.update(
            {"task": data.task, "run_id": job.run_id, "trained_on": _keys(data, train)}
        )
        head.save(current_head_path(app, data.task))
    after["train_n"] = float(len(train))
    return after, promoted, {"task": data.task}


def _keys(data: Prepared, rows: Any) -> list[str]:
    """The training rows' keys, kept with a labels head (a few per label) so that the next
    run compares on labels neither head has seen; a dataset's split is the same every run."""
    return [data.keys[int(i)] for i in rows] if data.task == LABELS_TASK else []


def _torch_lite0(app: ServiceContext) -> tuple[EfficientNetLite0Embedder, float]:
    """The current backbone as a torch EfficientNet-Lite0 (its ONNX twin has the same
    vectors), and the crop of the product's view around it."""
    from astrolens.ml.embedders import create_embedder
    from astrolens.ml.embedders.efficientnet_lite import EfficientNetLite0Embedder

    spec = app.settings.model
    parsed = EmbedderSpec.parse(spec)
    if parsed.family != "builtin" or parsed.name != LITE0:
        raise ValueError(f"backbone fine-tuning supports efficientnet-lite0 models, not {spec}")
    twin = dataclasses.replace(parsed, precision="fp32", runtime="torch")
    embedder = create_embedder(twin.format(), models_dir=Path(app.paths.models_dir))
    if not isinstance(embedder, EfficientNetLite0Embedder):
        raise ValueError(f"{spec} cannot be fine-tuned (torch is not installed)")
    view = app.embedder
    inner = getattr(view, "inner", view)
    if embedder.model_id != inner.model_id.removesuffix("+bf16"):
        raise ValueError(f"{spec}: the torch twin {embedder.model_id} is not {inner.model_id}")
    crops = getattr(view, "crops", (1.0,))
    if len(crops) != 1 or getattr(view, "dihedral", False):
        raise ValueError("backbone fine-tuning needs a single-view embedder")
    embedder.load()
    return embedder, float(crops[0])


def _backbone_run(job: _Run) -> tuple[dict[str, float], bool, dict[str, Any]]:
    app, request, hp = job.app, job.request, job.hp
    progress, cancelled = job.progress, job.cancelled
    from astrolens.ml.embedders.efficientnet_lite import save_fine_tuned
    from astrolens.ml.embedders.preprocess import to_batch
    from astrolens.ml.features.multiview import centre_crop
    from astrolens.ml.learning.backbone import embed_with, finetune_backbone
    from astrolens.ml.learning.datasets import dataset_images, open_labelled_dataset
    from astrolens.ml.learning.finetune import accuracy_metrics, should_promote

    if request.dataset is not None and request.use_labels:
        raise ValueError("a backbone run trains on a dataset or on the labels, not both at once")
    if request.dataset is not None:
        dataset = open_labelled_dataset(request.dataset)
        picked = np.arange(len(dataset))
        # every image's frozen activations are cached (4 views, ~150 kB each): cap the set
        cap = request.max_images or BACKBONE_MAX_IMAGES
        if cap < len(dataset):
            picked = np.sort(np.random.default_rng(0).choice(len(dataset), cap, False))
        data = Prepared(
            f"dataset:{dataset.name}",
            dataset.classes,
            dataset_images(dataset, picked.tolist()),  # x: the images, read lazily
            dataset.labels[picked],
            [],
            [f"{dataset.name}#{i}" for i in picked.tolist()],
        )
    else:
        data = label_images(app)
    images, y, task, classes = data.x, data.y, data.task, data.classes
    train, held = _split(y, data.strata, request.holdout, hp.seed)
    lite0, crop = _torch_lite0(app)

    def batch(chunk: Any) -> Any:  # the product's view of each image, as discovery embeds it
        views = [centre_crop(image, crop) if crop < 1 else image for image in chunk]
        return to_batch(views, lite0.input_size, lite0._mean, lite0._std)

    held_images = images.subset(held.tolist())
    current = embed_with(lite0._network, held_images, batch)
    job.before, rows = _compare(app, data, train, held, current)
    tuned = finetune_backbone(
        lite0._network,
        images.subset(train.tolist()),
        y[train],
        classes,
        batch,
        hp,
        progress=lambda f, m: progress(0.95 * f, m),
        cancelled=cancelled,
    )
    progress(0.97, "evaluating on held-out labels")
    tuned_held = embed_with(tuned.network, held_images, batch)[rows]
    after = accuracy_metrics(y[held][rows], tuned.head.predict(tuned_held), len(classes))
    after["train_n"] = float(len(train))
    promoted = should_promote(job.before, after)
    extra: dict[str, Any] = {"task": task}
    if promoted:
        from astrolens.ml.embedders import create_embedder
        from astrolens.ml.features.multiview import product_view

        digest = save_fine_tuned(tuned.network.state_dict(), Path(app.paths.models_dir))
        size = None if lite0.input_size == 224 else lite0.input_size
        spec = EmbedderSpec("builtin", LITE0, fine_tuned=digest, input_size=size).format()
        backbone = create_embedder(spec, models_dir=Path(app.paths.models_dir))
        model_id = product_view(backbone).model_id
        tuned.head.backbone_model_id = model_id
        tuned.head.meta.update(
            {"task": task, "run_id": job.run_id, "trained_on": _keys(data, train)}
        )
        tuned.head.save(current_head_path(app, task))
        extra.update({"new_model": spec, "new_model_id": model_id})
    return after, promoted, extra
