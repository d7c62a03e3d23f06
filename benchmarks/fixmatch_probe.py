"""A short, honest FixMatch experiment (issue 14, item 5): does consistency training on the
unlabelled pool beat the product's LabelAwareRanker after 20 labels?

Per track, on the product's features (EfficientNet-Lite0, centre-crop view, as `astrolens
score` embeds): 20 labels drawn at random from the test pool (both classes present), 5 seeds.
- ranker: LabelAwareRanker over the embedding with the unsupervised ensemble score as its
  prior (the product's learning loop);
- fixmatch: a linear head on the frozen embedding, trained on the 20 labels (cross-entropy)
  plus FixMatch's consistency on the rest of the pool: the weak view (the product view)
  pseudo-labels an image when the head is >= 0.95 sure, the strong view (random dihedral,
  random crop 60-90 %, noise) must then predict it. (FixMatch proper trains the backbone; on
  2 CPU cores only the head is affordable.)
AUROC over the rows not labelled, mean over seeds, and the paired per-seed difference.

    PYTHONPATH=. python benchmarks/fixmatch_probe.py [--tracks gz,rings] [--seeds 5]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats import auroc

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = ROOT.parent / "shared" / "data" / "bench"


def strong_view(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = np.rot90(image, int(rng.integers(4)))
    if rng.random() < 0.5:
        x = x[:, ::-1]
    h, w = x.shape[:2]
    f = rng.uniform(0.6, 0.9)
    ch, cw = max(8, int(h * f)), max(8, int(w * f))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    x = x[y0 : y0 + ch, x0 : x0 + cw]
    x = x + rng.normal(0, 0.02, x.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(x, 0, 1), dtype=np.float32)


def fixmatch_head(weak, strong, labelled, y, seed, steps=300, tau=0.95, lam=1.0):
    import torch

    torch.manual_seed(seed)
    w, s = torch.from_numpy(weak), torch.from_numpy(strong)
    head = torch.nn.Linear(w.shape[1], 2)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
    lab = torch.from_numpy(labelled)
    target = torch.from_numpy(y)
    unl = torch.from_numpy(np.setdiff1d(np.arange(len(weak)), labelled))
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(w[lab] * 10), target)
        with torch.no_grad():
            probs = torch.softmax(head(w[unl] * 10), dim=1)
            conf, pseudo = probs.max(dim=1)
            mask = (conf >= tau).float()
        if mask.sum() > 0:
            per = torch.nn.functional.cross_entropy(head(s[unl] * 10), pseudo, reduction="none")
            loss = loss + lam * (per * mask).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.softmax(head(w * 10), dim=1)[:, 1].numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--tracks", default="gz,rings,hsc")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--labels", type=int, default=20)
    args = parser.parse_args()

    from astrolens.imaging.decoder import ImageDecoder
    from astrolens.ml.embedders.registry import create_embedder
    from astrolens.ml.features.multiview import product_view
    from astrolens.ml.learning.reranker import LabelAwareRanker
    from astrolens.ml.scoring.ensemble import EnsembleScorer
    from astrolens.services.batch_score import _decode_whole

    with (args.bench / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    decoder = ImageDecoder()
    embedder = product_view(
        create_embedder("efficientnet-lite0", models_dir=Path(tempfile.gettempdir()))
    )
    print(f"{'track':<7}{'ranker':>8}{'fixmatch':>10}{'diff (mean, min..max over seeds)':>36}")
    for track in args.tracks.split(","):
        ref = [r for r in rows if r["track"] == track and r["split"] == "reference"]
        test = [r for r in rows if r["track"] == track and r["split"] == "test"]
        ref_px = [_decode_whole(decoder, args.bench / r["path"]).pixels for r in ref]
        px = [_decode_whole(decoder, args.bench / r["path"]).pixels for r in test]
        truth = np.array([r["label"] == "anomaly" for r in test], dtype=int)
        weak = embedder.embed(px)
        rng = np.random.default_rng(0)
        strong = embedder.embed([strong_view(p, rng) for p in px])
        scorer = EnsembleScorer()
        scorer.fit(embedder.embed(ref_px), group=track, model_id="bench")
        unsupervised = np.array([r.score for r in scorer.score(weak)])
        ranker_auc, fm_auc = [], []
        for seed in range(args.seeds):
            r = np.random.default_rng(seed)
            pos, neg = np.flatnonzero(truth == 1), np.flatnonzero(truth == 0)
            n_pos = max(1, round(args.labels * len(pos) / len(truth)))
            labelled = np.concatenate(
                [
                    r.choice(pos, n_pos, replace=False),
                    r.choice(neg, args.labels - n_pos, replace=False),
                ]
            )
            rest = np.setdiff1d(np.arange(len(truth)), labelled)
            labels = {int(i): bool(truth[i]) for i in labelled}
            ranked = LabelAwareRanker().rank(weak, unsupervised, labels).score
            ranker_auc.append(auroc(truth[rest], ranked[rest]))
            p = fixmatch_head(weak, strong, labelled, truth[labelled], seed)
            fm_auc.append(auroc(truth[rest], p[rest]))
        d = np.array(fm_auc) - np.array(ranker_auc)
        print(f"{track:<7}{np.mean(ranker_auc):>8.3f}{np.mean(fm_auc):>10.3f}"
              f"{d.mean():>+14.3f} ({d.min():+.3f}..{d.max():+.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
