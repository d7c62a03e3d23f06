"""Wires the learning loop: store <-> ranker/acquisition, and fine-tuning runs.

Everything blocking here runs where the pipeline's schedulers put it: store reads and writes
on the `db` executor, ranking on `ml`, training on its own `train` thread. Functions that run
on a worker thread reach the store through `app.db(...)` (which hops to the db thread).
"""

from __future__ import annotations

import logging
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from astrolens.app.context import AstroLensApp
from astrolens.domain.candidates import Candidate
from astrolens.domain.embedding import Embedding
from astrolens.domain.learning import HeadPrediction, TrainingRequest
from astrolens.domain.ports import EventSink
from astrolens.domain.records import CandidateFilter, TrainingRun, TrainingStatus
from astrolens.pipeline.executors import run_in
from astrolens.pipeline.learning import (
    ArchiveItem,
    ArchiveReembedder,
    CancelledFn,
    ProgressFn,
    RerankScheduler,
    TrainingRunner,
)

log = logging.getLogger(__name__)

POOL_LIMIT = 5000  # candidates re-ranked at once: the queue a person could ever review
# Photometry measured per re-rank at most (about 30 ms each incl. decoding): a label must
# re-rank within seconds, so a large archive without photometry is caught up over several runs.
PHOTOMETRY_PER_RUN = 200
BACKBONE_MAX_IMAGES = 2000  # dataset images a backbone run uses unless told otherwise
LABEL_CLASSES = ("not_interesting", "interesting")
LABELS_TASK = "labels"  # the head trained on verification labels: P(interesting)


@dataclass
class RankPool:
    """The candidate queue as the ranker sees it: rows that have a vector of `model_id`."""

    model_id: str
    ids: list[int] = field(default_factory=list)
    vectors: Any = None  # (N, D) float32
    unsupervised: Any = None  # (N,) higher = more anomalous
    labels: dict[int, bool] = field(default_factory=dict)  # pool row -> interesting
    head: Any = None  # the promoted labels head (ClassifierHead) of this model, if any
    photometry: Any = None  # (N, P) float32, NaN rows where not measured (yet)
    unmeasured: list[tuple[int, int, str | None]] = field(default_factory=list)  # row, id, path

    def __len__(self) -> int:
        return len(self.ids)


def unsupervised_order(candidates: list[Candidate]) -> Any:
    """Rank of each candidate by its calibrated p-value (smallest first), ties broken by the
    raw ensemble score. p-values are comparable across groups and calibrations, raw scores are
    not; but many candidates share the smallest possible p-value, and the score still orders
    those."""
    significance = [-math.log10(max(c.result.p_value, 1e-300)) for c in candidates]
    order = np.lexsort(([c.result.score for c in candidates], significance))
    ranks = np.empty(len(candidates), dtype=np.float64)
    ranks[order] = np.arange(len(candidates), dtype=np.float64)
    return ranks


def promoted_head(heads: Path | None, task: str, model_id: str, dim: int | None = None) -> Any:
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


def load_pool(repository: Any, model_id: str, heads: Path | None = None) -> RankPool:
    """Blocking (db thread)."""
    candidates: list[Candidate] = repository.query_candidates(CandidateFilter(), POOL_LIMIT, 0)
    ids_with_vectors, matrix = repository.embeddings(model_id)
    row_of = {image_id: row for row, image_id in enumerate(ids_with_vectors)}
    pool = RankPool(model_id)
    rows, kept = [], []
    for candidate in candidates:
        if candidate.id not in row_of:
            continue  # scored by another model: re-embedding will bring it back
        if candidate.label is not None and candidate.label.value.value != "unsure":
            pool.labels[len(pool.ids)] = candidate.label.value.value == "true_positive"
        pool.ids.append(candidate.id)
        rows.append(row_of[candidate.id])
        kept.append(candidate)
    pool.vectors = matrix[rows] if rows else np.zeros((0, 1), np.float32)
    pool.unsupervised = unsupervised_order(kept)
    _attach_photometry(repository, pool, kept)
    pool.head = promoted_head(heads, LABELS_TASK, model_id, pool.vectors.shape[1])
    if pool.head is not None and pool.head.classes != LABEL_CLASSES:
        pool.head = None
    return pool


def _attach_photometry(repository: Any, pool: RankPool, candidates: list[Candidate]) -> None:
    from astrolens.ml.features.photometry import FEATURE_NAMES, PHOTOMETRY_MODEL_ID

    ids, matrix = repository.embeddings(PHOTOMETRY_MODEL_ID)
    known = dict(zip(ids, matrix, strict=True)) if len(ids) else {}
    pool.photometry = np.full((len(pool), len(FEATURE_NAMES)), np.nan, np.float32)
    for row, candidate in enumerate(candidates):
        vector = known.get(candidate.id)
        if vector is None:
            pool.unmeasured.append((row, candidate.id, candidate.image.image_path))
        else:
            pool.photometry[row] = vector


def measure_photometry(
    pool: RankPool, decode: Any, save: Any, limit: int = PHOTOMETRY_PER_RUN
) -> RankPool:
    """Blocking (io thread): photometry of up to `limit` pool rows that have none, newest
    first (they are what the user is about to see); `save([(image id, vector)])` stores them.
    An image that cannot be read gets a NaN vector: stored, so it is not retried each run,
    and ranked by its embedding alone."""
    from astrolens.ml.features.photometry import photometric_features, shrink

    todo = sorted(pool.unmeasured, key=lambda item: -item[1])[:limit]
    measured = []
    for row, image_id, path in todo:
        vector = np.full(pool.photometry.shape[1], np.nan, np.float32)
        try:
            if path and Path(path).exists():
                vector = photometric_features(shrink(decode(Path(path))))
        except Exception as exc:  # a broken file must not stop the ranking
            log.warning("no photometry for image %s: %s", image_id, exc)
        pool.photometry[row] = vector
        measured.append((image_id, vector))
    done = {row for row, _, _ in todo}
    pool.unmeasured = [item for item in pool.unmeasured if item[0] not in done]
    if measured:
        save(measured)
    return pool


def save_photometry(repository: Any, measured: list[tuple[int, Any]]) -> None:
    from astrolens.ml.features.photometry import PHOTOMETRY_MODEL_ID

    for image_id, vector in measured:
        repository.add_embedding(image_id, Embedding(PHOTOMETRY_MODEL_ID, vector))


def _ranking(pool: RankPool) -> Any:
    from astrolens.ml.learning.representation import ranking_features
    from astrolens.ml.learning.reranker import LabelAwareRanker

    interest = None
    if pool.head is not None:
        interest = pool.head.predict_proba(pool.vectors)[:, LABEL_CLASSES.index("interesting")]
    features = ranking_features(pool.vectors, pool.photometry)
    return LabelAwareRanker().rank(features, pool.unsupervised, pool.labels, interest)


def rank_pool(pool: RankPool) -> list[tuple[int, float]]:
    """Blocking (ml thread): (image id, rank score) for every pool row."""
    if not len(pool):
        return []
    ranking = _ranking(pool)
    return [(i, float(s)) for i, s in zip(pool.ids, ranking.score.tolist(), strict=True)]


def pick_next(pool: RankPool, n: int) -> list[int]:
    """Blocking (ml thread): image ids to ask about next."""
    if not len(pool):
        return []
    from astrolens.ml.learning.acquisition import label_next

    ranking = _ranking(pool)
    return [pool.ids[row] for row in label_next(ranking, pool.labels.keys(), n)]


def save_ranks(repository: Any, scores: list[tuple[int, float]]) -> None:
    for image_id, score in scores:
        repository.set_rank_score(image_id, score)


# --------------------------------------------------------------------------- fine-tuning


def heads_dir(app: AstroLensApp) -> Path:
    return Path(app.paths.models_dir) / "heads"


def head_file_name(task: str) -> str:
    """A file name for any task name ("dataset:Galaxy10_DECals" has a colon, which Windows
    forbids): the head's own metadata keeps the real name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", task) + ".npz"


def current_head_path(app: AstroLensApp, task: str) -> Path:
    return heads_dir(app) / head_file_name(task)


def predict_with_heads(heads: Path, model_id: str, vector: Any) -> list[HeadPrediction]:
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


def _embed_dataset(
    app: AstroLensApp, request: TrainingRequest, progress: ProgressFn, cancelled: CancelledFn
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


def _with_labels(app: AstroLensApp, data: Prepared) -> Prepared:
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
        labels = _label_data(app)
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


def _labelled(app: AstroLensApp, pick: Any) -> tuple[list[Any], list[int], list[str], list[str]]:
    """(what `pick(repo, image_id, record)` gives, 1 = interesting, source, key) for every
    image whose latest label is true or false positive and that `pick` can use (not None)."""

    def read(repo: Any) -> tuple[list[Any], list[int], list[str], list[str]]:
        items, ys, strata, keys = [], [], [], []
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


def _label_data(app: AstroLensApp) -> Prepared:
    model_id = app.embedder.model_id
    vectors, ys, strata, keys = _labelled(
        app, lambda repo, image_id, _record: repo.embedding_vector(image_id, model_id)
    )
    return Prepared(LABELS_TASK, LABEL_CLASSES, np.stack(vectors), np.asarray(ys), strata, keys)


def run_finetune(
    app: AstroLensApp, request: TrainingRequest, progress: ProgressFn, cancelled: CancelledFn
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

    app: AstroLensApp
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
    app: AstroLensApp, data: Prepared, train: Any, held: Any, x_held: Any
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
        data = _embed_dataset(app, request, progress, cancelled)
        if request.use_labels:  # the user's own labels plus a labelled set of the same kind
            data = _with_labels(app, data)
    elif request.use_labels:
        data = _label_data(app)
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


def _label_images(app: AstroLensApp) -> Prepared:
    """The labelled images (x: their pixels, read lazily from the archive)."""
    from astrolens.app.batch_score import _decode_whole
    from astrolens.ml.learning.datasets import LazyImages

    def stored_file(_repo: Any, _image_id: int, record: Any) -> str | None:
        path = record.image_path
        return path if path and Path(path).exists() else None  # gone: nothing to train on

    paths, ys, strata, keys = _labelled(app, stored_file)

    def decode(rows: Any) -> list[Any]:
        return [_decode_whole(app.decoder, Path(paths[k])).pixels for k in rows]

    images = LazyImages(decode, range(len(paths)))
    return Prepared(LABELS_TASK, LABEL_CLASSES, images, np.asarray(ys), strata, keys)


def _torch_lite0(app: AstroLensApp) -> Any:
    """The current backbone as a torch EfficientNet-Lite0 (its ONNX twin has the same
    vectors), and the crop of the product's view around it."""
    from astrolens.ml.embedders import create_embedder
    from astrolens.ml.embedders.efficientnet_lite import EfficientNetLite0Embedder

    spec = app.settings.model
    if not spec.startswith("efficientnet-lite0"):
        raise ValueError(f"backbone fine-tuning supports efficientnet-lite0 models, not {spec}")
    parts = [p for p in spec.split("+") if p not in ("onnx", "bf16")]
    embedder = create_embedder("+".join([*parts, "torch"]), models_dir=Path(app.paths.models_dir))
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
        data = _label_images(app)
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
        from astrolens.app.context import product_view
        from astrolens.ml.embedders import create_embedder

        digest = save_fine_tuned(tuned.network.state_dict(), Path(app.paths.models_dir))
        size = "" if lite0.input_size == 224 else f"+r{lite0.input_size}"
        spec = f"efficientnet-lite0+ft-{digest}{size}"
        backbone = create_embedder(spec, models_dir=Path(app.paths.models_dir))
        model_id = product_view(backbone).model_id
        tuned.head.backbone_model_id = model_id
        tuned.head.meta.update(
            {"task": task, "run_id": job.run_id, "trained_on": _keys(data, train)}
        )
        tuned.head.save(current_head_path(app, task))
        extra.update({"new_model": spec, "new_model_id": model_id})
    return after, promoted, extra


# --------------------------------------------------------------------------- the service


class LearningService:
    """What AgentRuntime and the CLI call: re-rank, label next, train, re-embed."""

    def __init__(self, app: AstroLensApp, events: EventSink | None = None) -> None:
        self.app = app
        self.train_executor = ThreadPoolExecutor(1, thread_name_prefix="astrolens-train")
        model_id = lambda: app.embedder.model_id  # noqa: E731  (the model may change)
        self.reranker: RerankScheduler[RankPool] = RerankScheduler(
            load=lambda: load_pool(app.repository, model_id(), heads_dir(app)),
            prepare=self._measure,
            rank=rank_pool,
            save=lambda scores: save_ranks(app.repository, list(scores)),
            db=app.executors.db,
            ml=app.executors.ml,
            io=app.executors.io,
        )
        self.runner = TrainingRunner(self.train_executor, events)
        self._events = events

    def _measure(self, pool: RankPool) -> RankPool:
        """Blocking (io thread): fill in missing photometry; the store is reached via db."""
        from astrolens.app.batch_score import _decode_whole

        app = self.app
        return measure_photometry(
            pool,
            lambda path: _decode_whole(app.decoder, path).pixels,
            lambda measured: app.db(lambda repo: save_photometry(repo, measured)),
        )

    async def rerank(self) -> int:
        return await self.reranker.refresh()

    async def label_next(self, n: int) -> list[int]:
        model_id = self.app.embedder.model_id
        pool = await run_in(
            self.app.executors.db, load_pool, self.app.repository, model_id, heads_dir(self.app)
        )
        pool = await run_in(self.app.executors.io, self._measure, pool)
        return await run_in(self.app.executors.ml, pick_next, pool, n)

    def train(self, request: TrainingRequest) -> Any:
        name = request.dataset.name if request.dataset else "labels"
        return self.runner.start(
            name, lambda progress, cancelled: run_finetune(self.app, request, progress, cancelled)
        )

    def reembedder(self) -> ArchiveReembedder:
        """Embeds stored images that lack a vector of the current model (after a switch)."""
        app = self.app
        embedder = app.embedder

        def missing(limit: int) -> list[ArchiveItem]:
            records = app.repository.images_missing_embedding(embedder.model_id, limit)
            return [ArchiveItem(r.id, r.image_path) for r in records]

        def embed(items: Any) -> list[tuple[int, Embedding]]:
            from astrolens.app.batch_score import _decode_whole

            kept, pixels = [], []
            for item in items:
                if not item.image_path or not Path(item.image_path).exists():
                    continue
                try:
                    pixels.append(_decode_whole(app.decoder, Path(item.image_path)).pixels)
                    kept.append(item.image_id)
                except Exception as exc:  # an unreadable file is skipped, not fatal
                    log.warning("cannot re-embed image %s: %s", item.image_id, exc)
            if not kept:
                return []
            vectors = embedder.embed(pixels)
            return [
                (i, Embedding(embedder.model_id, v)) for i, v in zip(kept, vectors, strict=True)
            ]

        def save(pairs: Any) -> None:
            for image_id, embedding in pairs:
                app.repository.add_embedding(image_id, embedding)

        return ArchiveReembedder(
            model_id=embedder.model_id,
            dim=embedder.dim,
            missing=missing,
            embed=embed,
            save=save,
            db=app.executors.db,
            ml=app.executors.ml,
            events=self._events,
        )

    async def predictions(self, image_id: int) -> list[HeadPrediction]:
        app = self.app
        model_id = app.embedder.model_id
        vector = await run_in(
            app.executors.db, lambda: app.repository.embedding_vector(image_id, model_id)
        )
        found: list[HeadPrediction] = await run_in(
            app.executors.ml, predict_with_heads, heads_dir(app), model_id, vector
        )
        return found

    async def training_runs(self) -> list[TrainingRun]:
        runs: list[TrainingRun] = await run_in(
            self.app.executors.db, lambda: self.app.repository.training_runs()
        )
        return runs

    def close(self) -> None:
        self.runner.cancel()
        self.train_executor.shutdown(wait=True, cancel_futures=True)
