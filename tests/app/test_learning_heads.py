"""A promoted labels head is what the ranking uses next; a stale or broken one is ignored."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrolens.app.learning import LABEL_CLASSES, RankPool, load_pool, promoted_head, rank_pool
from astrolens.ml.learning.finetune import ClassifierHead

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

        def embeddings(self, _model):
            return [], np.zeros((0, DIM), np.float32)

    _head("m", towards=1, path=tmp_path / "labels.npz", classes=("a", "b"))
    assert load_pool(Repo(), "m", tmp_path).head is None
