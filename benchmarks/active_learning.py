"""Simulated-user benchmark of the learning loop: does feedback find more anomalies sooner?

    PYTHONPATH=. python benchmarks/active_learning.py [--bench DIR] [--cache DIR]

Per track of the manifest (`path, track, split, label, subtype, ra, dec, origin`): the
product's EnsembleScorer is fitted on the track's `reference` rows and scores its `test` rows
(the unsupervised ranking). Then, from no labels, the system asks about the candidate that
`label_next` picks, the simulated user reveals its true label (anomaly = interesting), and the
LabelAwareRanker re-ranks over the product's ranking features (embedding + photometry, see
`astrolens.ml.learning.representation`); repeat 50 times. The same loop over the embedding
alone is the earlier design, measured in the same run. After 0, 10, 20 and 50 labels it
reports:

- AUROC and precision@20 of the blended ranking over the rows NOT yet labelled (the labelled
  ones are known, so counting them would flatter the number), against the unsupervised
  ranking over the same rows;
- anomalies among the first 50 reviewed (with feedback: the 50 asked about; without: the
  unsupervised top 50).

The last line is `macro_auroc_after_20=X` (mean over tracks).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_features import DEFAULT_BENCH, DEFAULT_CACHE, bench_features, bench_photometry
from stats import auroc_ci, fmt_ci, paired_delta_ci

from astrolens.ml.learning.acquisition import label_next
from astrolens.ml.learning.representation import ranking_features
from astrolens.ml.learning.reranker import LabelAwareRanker
from astrolens.ml.scoring.ensemble import EnsembleScorer

CHECKPOINTS = (0, 10, 20, 50)


def auroc(truth: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if truth.min() == truth.max():
        return float("nan")
    return float(roc_auc_score(truth, score))


def precision_at(truth: np.ndarray, score: np.ndarray, k: int = 20) -> float:
    top = np.argsort(-score, kind="mergesort")[:k]
    return float(truth[top].mean()) if len(top) else float("nan")


def supervised_ceiling(features: np.ndarray, truth: np.ndarray) -> float:
    """5-fold cross-validated AUROC of a linear probe trained on ALL the track's test labels:
    what these embeddings can separate at best with a linear read-out."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    probe = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced")
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    p = cross_val_predict(probe, features, truth, cv=folds, method="predict_proba")[:, 1]
    return auroc(truth, p)


def simulate(
    features: np.ndarray,
    unsupervised: np.ndarray,
    truth: np.ndarray,
    budget: int = 50,
    ranker: LabelAwareRanker | None = None,
    explore_every: int = 4,
) -> tuple[dict[int, dict[str, float]], int]:
    ranker = ranker or LabelAwareRanker()
    labels: dict[int, bool] = {}
    found = 0
    metrics: dict[int, dict[str, float]] = {}
    for step in range(budget + 1):
        ranking = ranker.rank(features, unsupervised, labels)
        if step in CHECKPOINTS:
            rest = np.array([i for i in range(len(truth)) if i not in labels])
            metrics[step] = {
                "auroc": auroc(truth[rest], ranking.score[rest]),
                "p20": precision_at(truth[rest], ranking.score[rest]),
                "auroc_unsup": auroc(truth[rest], unsupervised[rest]),
                "p20_unsup": precision_at(truth[rest], unsupervised[rest]),
            }
            # kept for the bootstrap intervals (stats.py), not printed as such
            metrics[step]["_rest"] = rest  # type: ignore[assignment]
            metrics[step]["_score"] = ranking.score[rest].copy()  # type: ignore[assignment]
        if step == budget:
            break
        (pick,) = label_next(ranking, labels.keys(), 1, explore_every=explore_every)
        labels[pick] = bool(truth[pick])
        found += int(truth[pick])
    return metrics, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--budget", type=int, default=50)
    args = parser.parse_args()

    rows, features, _ = bench_features(args.bench, args.cache, verbose=False)
    photometry = bench_photometry(args.bench, args.cache, verbose=False)
    tracks = sorted({r.track for r in rows})
    after_20: list[float] = []
    after_20_embedding_only: list[float] = []
    after_20_greedy: list[float] = []
    print(f"{'track':8} {'labels':>6} {'AUROC':>7} {'unsup':>7} {'P@20':>6} {'unsup':>6}")
    summary = []
    for track in tracks:
        started = time.perf_counter()
        ref = np.array(
            [i for i, r in enumerate(rows) if r.track == track and r.split == "reference"]
        )
        test = np.array([i for i, r in enumerate(rows) if r.track == track and r.split == "test"])
        truth = np.array([rows[i].is_anomaly for i in test], dtype=int)
        scorer = EnsembleScorer()
        scorer.fit(features[ref], group=track, model_id="bench")
        unsupervised = np.array([r.score for r in scorer.score(features[test])])
        pool = ranking_features(features[test], photometry[test])  # as the app builds it
        metrics, found = simulate(pool, unsupervised, truth, args.budget)
        plain, found_plain = simulate(features[test], unsupervised, truth, args.budget)
        # the window's default queue, "Best first": always the top of the learned ranking
        greedy, found_greedy = simulate(pool, unsupervised, truth, args.budget, explore_every=0)
        after_20_greedy.append(greedy[20]["auroc"] if 20 in greedy else float("nan"))
        after_20_embedding_only.append(plain[20]["auroc"] if 20 in plain else float("nan"))
        baseline_found = int(
            truth[np.argsort(-unsupervised, kind="mergesort")[: args.budget]].sum()
        )
        for k, m in metrics.items():
            print(
                f"{track:8} {k:>6} {m['auroc']:7.3f} {m['auroc_unsup']:7.3f}"
                f" {m['p20']:6.2f} {m['p20_unsup']:6.2f}"
            )
        after_20.append(metrics[20]["auroc"] if 20 in metrics else float("nan"))
        if 20 in metrics:
            rest, ranked = metrics[20]["_rest"], metrics[20]["_score"]
            print(
                f"{track:8} after 20 labels: AUROC {fmt_ci(auroc_ci(truth[rest], ranked))}, "
                f"vs no labels {fmt_ci(paired_delta_ci(truth[rest], ranked, unsupervised[rest]))}"
            )
        ceiling = supervised_ceiling(features[test], truth)
        seconds = time.perf_counter() - started
        summary.append(
            (
                track,
                len(test),
                int(truth.sum()),
                found,
                found_greedy,
                found_plain,
                baseline_found,
                ceiling,
                seconds,
            )
        )
    print()
    print(
        f"{'track':8} {'pool':>5} {'anom':>5} {'label next':>11} {'ratio':>6} {'best first':>11}"
        f" {'ratio':>6} {'emb only':>9} {'no fb':>6} {'ceiling':>8} {'s':>5}"
    )
    for track, n, anomalies, found, greedy, plain, base, ceiling, secs in summary:
        ratio = found / base if base else float("inf")
        ratio_greedy = greedy / base if base else float("inf")
        print(
            f"{track:8} {n:5d} {anomalies:5d} {found:11d} {ratio:6.2f} {greedy:11d}"
            f" {ratio_greedy:6.2f} {plain:9d} {base:6d} {ceiling:8.3f} {secs:5.1f}"
        )
    print("anomalies among the first 50 reviewed, with feedback: 'label next' = the system asks")
    print("(every 4th an exploration pick), 'best first' = the top of the learned ranking each")
    print("time (the review queue's default); emb only = label next over the embedding alone;")
    print("no fb = the unsupervised top 50")
    print("ceiling: 5-fold linear-probe AUROC of the embedding, trained on every test label")
    print(f"embedding_only_macro_auroc_after_20={np.nanmean(after_20_embedding_only):.4f}")
    print(f"best_first_macro_auroc_after_20={np.nanmean(after_20_greedy):.4f}")
    print(f"macro_auroc_after_20={np.nanmean(after_20):.4f}")


if __name__ == "__main__":
    main()
