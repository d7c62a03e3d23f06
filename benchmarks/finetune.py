"""Fine-tuning benchmark: does training the head on labelled bench images beat the baseline?

    PYTHONPATH=. python benchmarks/finetune.py [--bench DIR] [--cache DIR] [--seeds 5]

Tasks built from the manifest (all splits; labels are the truth here):
- gz-morphology: Galaxy Zoo examples in 3 classes: regular (the track's normals),
  interacting (merger, tidal debris, disturbed, overlapping), other-peculiar (irregular,
  ring, lens/arc, star/artefact, other). Splits are stratified by survey (from the origin
  file name: candels, decals, gama, goods, sdss, ukidss, ...) and class, so each survey is
  in both halves in proportion and a head cannot score by recognising surveys alone.
- rings: ring vs disc (DECaLS), stratified by class.

The head is the product's (`train_head`, linear on frozen EfficientNet-Lite0 features);
"before" is the majority-class guess the promotion rule must beat. Mean and std over seeds.
With `--blocks N` the same splits also train the backbone's last N blocks with the head
(`finetune_backbone`, what `astrolens train --blocks N` runs), a row per task and metric;
that takes minutes per seed on a 2-core CPU, so it runs `--backbone-seeds` seeds (default 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_features import DEFAULT_BENCH, DEFAULT_CACHE, BenchRow, bench_features

from astrolens.ml.learning.finetune import (
    HeadHyperParameters,
    accuracy_metrics,
    majority_metrics,
    stratified_split,
    train_head,
)

INTERACTING = {"merger", "merger_and_tidal_debris", "tidal_debris", "disturbed", "overlapping"}


def survey_of(row: BenchRow) -> str:
    name = Path(row.origin).name.lower()
    return name.split("-", 1)[0] if "-" in name else row.subtype


def gz_task(rows: list[BenchRow]) -> tuple[list[int], list[int], list[str], tuple[str, ...]]:
    keep, labels, strata = [], [], []
    for i, r in enumerate(rows):
        if r.track != "gz":
            continue
        cls = 0 if not r.is_anomaly else 1 if r.subtype in INTERACTING else 2
        keep.append(i)
        labels.append(cls)
        strata.append(survey_of(r))
    return keep, labels, strata, ("regular", "interacting", "other_peculiar")


def rings_task(rows: list[BenchRow]) -> tuple[list[int], list[int], list[str], tuple[str, ...]]:
    keep = [i for i, r in enumerate(rows) if r.track == "rings"]
    return keep, [int(rows[i].is_anomaly) for i in keep], ["decals"] * len(keep), ("disc", "ring")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=0, help="also fine-tune N backbone blocks")
    parser.add_argument("--backbone-seeds", type=int, default=2)
    parser.add_argument("--backbone-epochs", type=int, default=15)
    args = parser.parse_args()
    rows, features, _ = bench_features(args.bench, args.cache, verbose=False)
    print(
        f"{'task':22} {'n':>4} {'held':>4} {'metric':18} {'before':>13} {'after':>13}"
        f" {'change':>8} {'promoted':>8} {'s':>5}"
    )
    for name, builder in (("gz-morphology", gz_task), ("rings", rings_task)):
        keep, labels, strata, classes = builder(rows)
        x, y = features[keep], np.asarray(labels)
        results: dict[str, list[tuple[float, float]]] = {"accuracy": [], "balanced_accuracy": []}
        promoted, held_n = 0, 0
        started = time.perf_counter()
        for seed in range(args.seeds):
            train, held = stratified_split(y, strata, holdout=0.3, seed=seed)
            hp = HeadHyperParameters(epochs=args.epochs, seed=seed)
            head = train_head(x[train], y[train], classes, "bench", hp)
            after = accuracy_metrics(y[held], head.predict(x[held]), len(classes))
            before = majority_metrics(y[train], y[held], len(classes))
            for metric, pairs in results.items():
                pairs.append((before[metric], after[metric]))
            promoted += int(after["balanced_accuracy"] > before["balanced_accuracy"])
            held_n = len(held)
        seconds = (time.perf_counter() - started) / args.seeds
        for metric, pairs in results.items():
            b, a = np.array(pairs).T
            print(
                f"{name:22} {len(y):4d} {held_n:4d} {metric:18}"
                f" {b.mean():6.3f}±{b.std():.3f} {a.mean():6.3f}±{a.std():.3f}"
                f" {100 * (a - b).mean():+7.1f}pt {promoted:>4d}/{args.seeds} {seconds:5.1f}"
            )
        if args.blocks:
            backbone_rows(args, rows, keep, y, strata, classes, name)
    print("before = majority-class guess; after = trained head; held-out, survey-stratified")
    if args.blocks:
        print(f"'+{args.blocks} blocks' rows: before = the head alone on the same split")


def backbone_rows(args, rows, keep, y, strata, classes, name) -> None:
    """Head alone vs head + the last N blocks, on the same survey-stratified splits."""
    from astrolens.imaging.decoder import ImageDecoder
    from astrolens.ml.embedders.efficientnet_lite import EfficientNetLite0Embedder
    from astrolens.ml.embedders.preprocess import to_batch
    from astrolens.ml.learning.backbone import (
        BackboneHyperParameters,
        embed_with,
        finetune_backbone,
    )
    from astrolens.services.batch_score import _decode_whole

    lite0 = EfficientNetLite0Embedder()
    lite0.load()
    decoder = ImageDecoder()
    images = [_decode_whole(decoder, args.bench / rows[i].path).pixels for i in keep]

    def batch(chunk):
        return to_batch(chunk, lite0.input_size, lite0._mean, lite0._std)

    frozen = embed_with(lite0._network, images, batch)
    pairs: dict[str, list[tuple[float, float]]] = {"accuracy": [], "balanced_accuracy": []}
    promoted = 0
    started = time.perf_counter()
    for seed in range(args.backbone_seeds):
        train, held = stratified_split(y, strata, holdout=0.3, seed=seed)
        head = train_head(frozen[train], y[train], classes, "bench", HeadHyperParameters(seed=seed))
        before = accuracy_metrics(y[held], head.predict(frozen[held]), len(classes))
        hp = BackboneHyperParameters(blocks=args.blocks, epochs=args.backbone_epochs, seed=seed)
        tuned = finetune_backbone(
            lite0._network, [images[i] for i in train], y[train], classes, batch, hp
        )
        features = embed_with(tuned.network, [images[i] for i in held], batch)
        after = accuracy_metrics(y[held], tuned.head.predict(features), len(classes))
        for metric, got in pairs.items():
            got.append((before[metric], after[metric]))
        promoted += int(after["balanced_accuracy"] > before["balanced_accuracy"])
    seconds = (time.perf_counter() - started) / args.backbone_seeds
    for metric, got in pairs.items():
        b, a = np.array(got).T
        label = f"{name}+{args.blocks}blocks"
        print(
            f"{label:22} {len(y):4d} {len(held):4d} {metric:18}"
            f" {b.mean():6.3f}±{b.std():.3f} {a.mean():6.3f}±{a.std():.3f}"
            f" {100 * (a - b).mean():+7.1f}pt {promoted:>4d}/{args.backbone_seeds} {seconds:5.1f}"
        )


if __name__ == "__main__":
    main()
