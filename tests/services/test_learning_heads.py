"""A promoted labels head is what the ranking uses next; a stale or broken one is ignored."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrolens.ml.learning.finetune import ClassifierHead
from astrolens.services.heads import (
    LABEL_CLASSES,
    head_file_name,
    predict_with_heads,
    promoted_head,
)
from astrolens.services.ranking import RankPool, load_pool, rank_pool

DIM = 8


def _head(backbone: str, towards: int, path: Path, classes: tuple[str, ...] = LABEL_CLASSES):
    """A head that finds vectors along axis `towards` interesting."""
    weight = np.zeros((2, DIM), np.float32)
    weight[1, towards] = 20.0
    head = ClassifierHead(backbone, classes, weight, np.array([0.0, -10.0], np.float32))
    head.save(path)
    return head


def _pool(model: str = "m") -> RankPool:
    rng = np.random.default_rng(1)
    vectors = np.zeros((10, DIM), np.float32)
    vectors[:5, 0] = 1.0  # the unsupervised favourites: rows 0-4
    vectors[5:, 1] = 1.0
    vectors += 0.05 * rng.standard_normal(vectors.shape).astype(np.float32)
    pool = RankPool(model, ids=list(range(100, 110)), vectors=vectors)
    pool.unsupervised = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], float)
    return pool


def test_a_promoted_labels_head_reorders_the_queue_before_any_new_label(tmp_path: Path) -> None:
    pool = _pool()
    before = [i for i, _ in sorted(rank_pool(pool), key=lambda p: -p[1])]
    assert before[:5] == [100, 101, 102, 103, 104]
    pool.head = _head("m", towards=1, path=tmp_path / "labels.npz")
    after = [i for i, _ in sorted(rank_pool(pool), key=lambda p: -p[1])]
    # the head counts as much as the unsupervised score: its rows now lead
    assert after[0] in range(105, 110)
    assert len(set(after[:5]) & set(range(105, 110))) >= 4


def test_only_a_head_of_this_backbone_and_shape_is_used(tmp_path: Path) -> None:
    _head("other-backbone", towards=1, path=tmp_path / "labels.npz")
    assert promoted_head(tmp_path, "labels", "m", DIM) is None
    _head("m", towards=1, path=tmp_path / "labels.npz")
    assert promoted_head(tmp_path, "labels", "m", DIM + 1) is None
    assert promoted_head(tmp_path, "labels", "m", DIM) is not None
    (tmp_path / "labels.npz").write_bytes(b"not an npz")
    assert promoted_head(tmp_path, "labels", "m", DIM) is None
    assert promoted_head(None, "labels", "m", DIM) is None


def test_load_pool_attaches_the_head_and_drops_one_of_other_classes(tmp_path: Path) -> None:
    class Repo:
        def query_candidates(self, *_):
            return []

        def embeddings_of(self, _model, _ids):
            return [], np.zeros((0, DIM), np.float32)

    _head("m", towards=1, path=tmp_path / "labels.npz", classes=("a", "b"))
    assert load_pool(Repo(), "m", tmp_path).head is None


def test_every_promoted_head_of_this_model_speaks_labels_first(tmp_path: Path) -> None:
    morphology = ("disturbed", "merging", "round", "spiral")
    weight = np.zeros((4, DIM), np.float32)
    weight[1, 2] = 10.0  # "merging" along axis 2
    head = ClassifierHead("m", morphology, weight, np.zeros(4, np.float32))
    head.meta.update({"task": "dataset:Galaxy10_DECals", "run_id": 7})
    head.save(tmp_path / head_file_name("dataset:Galaxy10_DECals"))
    labels = _head("m", towards=2, path=tmp_path / "labels.npz")
    labels.meta.update({"task": "labels", "run_id": 8})
    labels.save(tmp_path / "labels.npz")
    _head("other", towards=2, path=tmp_path / "stale.npz")  # another backbone: silent

    vector = np.zeros(DIM, np.float32)
    vector[2] = 1.0
    first, second = predict_with_heads(tmp_path, "m", vector)
    assert first.task == "labels" and first.top[0][0] == "interesting" and first.run_id == 8
    assert second.task == "dataset:Galaxy10_DECals" and len(second.top) == 3
    assert second.top[0][0] == "merging" and second.top[0][1] > 0.9
    assert second.text().startswith("Galaxy10_DECals (run 7): merging 100 %, disturbed 0 %")
    assert predict_with_heads(tmp_path, "m", None) == []
    assert predict_with_heads(tmp_path / "none", "m", vector) == []
    assert ":" not in head_file_name("dataset:Galaxy10_DECals")
