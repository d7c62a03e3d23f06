"""Label-aware re-ranking and "label next" acquisition on synthetic clusters."""

from __future__ import annotations

import numpy as np
import pytest

from astrolens.ml.learning.acquisition import label_next
from astrolens.ml.learning.reranker import LabelAwareRanker, rank_fraction


def clusters(n: int = 30, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two tight clusters far apart: rows [0, n) near axis 0, rows [n, 2n) near axis 1."""
    rng = np.random.default_rng(seed)
    a = np.eye(dim)[0] + 0.05 * rng.standard_normal((n, dim))
    b = np.eye(dim)[1] + 0.05 * rng.standard_normal((n, dim))
    x = np.vstack([a, b]).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.r_[np.zeros(n), np.ones(n)]


def test_rank_fraction_averages_ties() -> None:
    assert rank_fraction([3.0, 1.0, 3.0, 2.0]).tolist() == pytest.approx([5 / 6, 0, 5 / 6, 1 / 3])
    assert rank_fraction([7.0]).tolist() == [1.0]


def test_without_labels_the_unsupervised_order_stands() -> None:
    x, _ = clusters()
    u = np.random.default_rng(1).random(len(x))
    ranking = LabelAwareRanker().rank(x, u, {})
    assert np.array_equal(np.argsort(ranking.score), np.argsort(u))
    assert not ranking.trust.any()


def test_false_positive_labels_sink_their_neighbours_only() -> None:
    x, cluster = clusters()
    # The unsupervised score prefers cluster b (an artefact cluster, say)
    u = cluster + 0.01 * np.random.default_rng(2).random(len(x))
    before = LabelAwareRanker().rank(x, u, {})
    assert set(np.argsort(-before.score)[:30]) == set(range(30, 60))
    fp = {45: False, 50: False, 55: False}
    after = LabelAwareRanker().rank(x, u, fp)
    drop = before.score - after.score
    rest_of_b = [i for i in range(30, 60) if i not in fp]
    assert drop[rest_of_b].min() > 0.1 and np.abs(drop[:30]).max() < 1e-3
    assert after.trust[rest_of_b].min() > 0.2 > 0.01 > after.trust[:30].max()
    # trusting labels more (a smaller prior weight) sinks cluster b below cluster a
    eager = LabelAwareRanker(prior_weight=0.1).rank(x, u, fp)
    assert eager.score[rest_of_b].mean() < eager.score[:30].mean()


def test_labels_of_both_classes_add_a_global_model() -> None:
    x, _cluster = clusters()
    u = np.random.default_rng(3).random(len(x))
    labels = {0: True, 1: True, 2: True, 30: False, 31: False, 32: False}
    ranking = LabelAwareRanker().rank(x, u, labels)
    assert ranking.learned[:30].min() > 0.5 > ranking.learned[30:].max()
    assert ranking.score[3:30].mean() > ranking.score[33:].mean()


def test_label_outside_the_pool_is_an_error() -> None:
    x, _ = clusters(5)
    with pytest.raises(IndexError):
        LabelAwareRanker().rank(x, np.zeros(len(x)), {99: True})


def test_label_next_asks_top_first_then_explores_and_never_repeats() -> None:
    x, cluster = clusters()
    u = cluster + 0.01 * np.arange(len(x))
    ranking = LabelAwareRanker().rank(x, u, {})
    first = label_next(ranking, [], 1)
    assert first == [int(np.argmax(u))]
    picks = label_next(ranking, [59, 58], 8)
    assert 59 not in picks and 58 not in picks and len(set(picks)) == 8
    # the explore step (every 4th) may leave the greedy order; the greedy ones follow score
    greedy = [p for i, p in enumerate(picks) if (2 + i + 1) % 4 != 0]
    assert greedy == sorted(greedy, key=lambda r: -ranking.score[r])


def test_label_next_with_everything_labelled_is_empty() -> None:
    x, _ = clusters(3)
    ranking = LabelAwareRanker().rank(x, np.arange(6.0), {})
    assert label_next(ranking, range(6), 3) == []
