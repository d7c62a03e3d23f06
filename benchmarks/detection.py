"""Detection benchmark: `astrolens score` per track against the baseline, measured in one run.

For each track of a manifest (`path, track, split, label, subtype, ...`), the product scores the
track's `test` images against its `reference` images through the real CLI (`astrolens score`,
a subprocess, so start-up and decoding count). The baseline of DESIGN.md is measured in the
same run on the same machine: the same backbone's pooled features (EfficientNet-Lite0, no
test-time augmentation), cosine 5-NN mean distance to the reference.

Prints AUROC per track with a bootstrap 95 % interval, the paired difference to the same-run
baseline with its interval (the target: low end > 0 on at least two tracks, < 0 on none),
within-survey AUROC for gz (the survey alone predicts the gz label at 0.636, so a gz number can
rise by recognising the survey), the linear-probe ceiling of the backbone (5-fold logistic
regression on *all* the track's test labels: what any detector on these features could reach),
AUROC per anomaly subtype, precision@10/@50, wall time and images/s (with process start-up;
"warm" is the command's own rate without it), and the ratio of our per-image time to the
seed's 274 ms.

    .venv/bin/python benchmarks/detection.py [--bench DIR] [--tracks hsc,gz] [--skip-baseline]
        [--model SPEC] [--extra --thorough|--morphology]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats import auroc_ci, fmt_ci, paired_delta_ci, survey_of, within_group_auroc

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = ROOT.parent / "shared" / "data" / "bench"
SEED_MS_PER_IMAGE = 274.0


def read_manifest(bench: Path) -> list[dict[str, str]]:
    with (bench / "manifest.csv").open() as fh:
        return list(csv.DictReader(fh))


def precision_at(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    k = min(k, len(scores))
    top = np.argsort(-scores, kind="stable")[:k]
    return float(labels[top].mean()) if k else float("nan")


def run_product(
    bench: Path, rows: list[dict[str, str]], workdir: Path, extra: list[str]
) -> tuple[dict, float, float]:
    """Score one track through `astrolens score`: ({path: score}, wall s, in-process img/s)."""
    ref_dir = workdir / "reference"
    ref_dir.mkdir()
    for r in rows:
        if r["split"] == "reference":
            src = bench / r["path"]
            os.symlink(src, ref_dir / src.name)
    queries = [str(bench / r["path"]) for r in rows if r["split"] == "test"]
    out = workdir / "scores.csv"
    exe = Path(sys.executable).with_name("astrolens")
    cmd = [str(exe), "score", "--reference", str(ref_dir), "--output", str(out), *extra, *queries]
    env = {**os.environ, "ASTROLENS_HOME": str(workdir / "home")}
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"astrolens score failed:\n{done.stderr[-3000:]}")
    with out.open() as fh:
        scores = {r["path"]: float(r["score"]) for r in csv.DictReader(fh) if r["score"]}
    # The command's own throughput (decode, embed, fit, score), without process start-up.
    match = re.search(r"\(([0-9.]+) images/s\)", done.stderr)
    inner = float(match.group(1)) if match else float("nan")
    return scores, wall, inner


def run_baseline(bench: Path, rows: list[dict[str, str]], embedder) -> dict[str, float]:
    from astrolens.imaging.decoder import ImageDecoder
    from astrolens.services.batch_score import _decode_whole

    decoder = ImageDecoder()

    def embed(paths: list[Path]) -> np.ndarray:
        pixels = [_decode_whole(decoder, p).pixels for p in paths]
        return np.concatenate(
            [embedder.embed(pixels[i : i + 32]) for i in range(0, len(pixels), 32)]
        )

    ref = embed([bench / r["path"] for r in rows if r["split"] == "reference"])
    test_paths = [bench / r["path"] for r in rows if r["split"] == "test"]
    test = embed(test_paths)
    sims = test @ ref.T
    k = min(5, ref.shape[0])
    nearest = -np.sort(-sims, axis=1)[:, :k]
    dist = 1.0 - nearest.mean(axis=1)
    return {str(p): float(d) for p, d in zip(test_paths, dist, strict=True)}


def linear_probe_ceiling(bench: Path, rows: list[dict[str, str]], embedder) -> float:
    """5-fold cross-validated logistic regression on every test label of the track, on the
    backbone's features: out-of-fold AUROC. A ceiling no label-free detector is held to."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from astrolens.imaging.decoder import ImageDecoder
    from astrolens.services.batch_score import _decode_whole

    decoder = ImageDecoder()
    test = [r for r in rows if r["split"] == "test"]
    pixels = [_decode_whole(decoder, bench / r["path"]).pixels for r in test]
    x = np.concatenate([embedder.embed(pixels[i : i + 32]) for i in range(0, len(pixels), 32)])
    y = np.array([r["label"] == "anomaly" for r in test], dtype=int)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    probe = LogisticRegression(C=1.0, max_iter=2000)
    p = cross_val_predict(probe, x, y, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def evaluate(
    rows: list[dict[str, str]],
    bench: Path,
    scores: dict[str, float],
    base_scores: dict[str, float] | None = None,
) -> dict:
    test = [r for r in rows if r["split"] == "test" and str(bench / r["path"]) in scores]
    labels = np.array([r["label"] == "anomaly" for r in test], dtype=float)
    values = np.array([scores[str(bench / r["path"])] for r in test])
    ci = auroc_ci(labels.astype(int), values)
    delta = None
    if base_scores is not None:
        base_values = np.array([base_scores[str(bench / r["path"])] for r in test])
        delta = paired_delta_ci(labels.astype(int), values, base_values)
    surveys = [survey_of(r["origin"]) for r in test]
    result = {
        "auroc": float(roc_auc_score(labels, values)),
        "ci": ci,
        "delta": delta,
        "within": within_group_auroc(labels.astype(int), values, surveys),
        "p@10": precision_at(labels, values, 10),
        "p@50": precision_at(labels, values, 50),
        "n": len(test),
        "subtypes": {},
    }
    normal = labels == 0
    for subtype in sorted({r["subtype"] for r in test if r["label"] == "anomaly"}):
        mask = np.array([r["subtype"] == subtype for r in test]) | normal
        sub_labels = labels[mask]
        if 0 < sub_labels.sum() < len(sub_labels):
            result["subtypes"][subtype] = (
                float(roc_auc_score(sub_labels, values[mask])),
                int(sub_labels.sum()),
            )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--tracks", help="comma-separated subset of tracks")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--model", help="embedder spec for `astrolens score` and the probe")
    parser.add_argument("--thorough", action="store_true", help="score with --thorough")
    parser.add_argument("--morphology", action="store_true", help="score with --morphology")
    parser.add_argument("--skip-probe", action="store_true", help="no linear-probe ceiling")
    args = parser.parse_args()
    extra = (["--model", args.model] if args.model else []) + [
        flag
        for flag, on in (("--thorough", args.thorough), ("--morphology", args.morphology))
        if on
    ]

    rows = read_manifest(args.bench)
    tracks = sorted({r["track"] for r in rows})
    if args.tracks:
        tracks = [t for t in tracks if t in args.tracks.split(",")]
    by_track = defaultdict(list)
    for r in rows:
        by_track[r["track"]].append(r)

    embedder = None
    if not args.skip_baseline:
        from astrolens.ml.embedders.registry import create_embedder

        embedder = create_embedder("efficientnet-lite0", models_dir=Path(tempfile.gettempdir()))
    probe_embedder = None
    if not args.skip_probe:
        from astrolens.ml.embedders.registry import create_embedder
        from astrolens.ml.features.multiview import product_view

        probe_embedder = product_view(
            create_embedder(
                args.model or "efficientnet-lite0", models_dir=Path(tempfile.gettempdir())
            )
        )

    table = []
    total_images, total_wall = 0, 0.0
    for track in tracks:
        with tempfile.TemporaryDirectory(prefix=f"astrolens-bench-{track}-") as tmp:
            scores, wall, inner = run_product(args.bench, by_track[track], Path(tmp), extra)
        n_images = len(by_track[track])
        total_images += n_images
        total_wall += wall
        base = None
        base_scores = None
        if embedder is not None:
            base_scores = run_baseline(args.bench, by_track[track], embedder)
            base = evaluate(by_track[track], args.bench, base_scores)
        ours = evaluate(by_track[track], args.bench, scores, base_scores)
        if probe_embedder is not None:
            ours["probe"] = linear_probe_ceiling(args.bench, by_track[track], probe_embedder)
        table.append((track, ours, base, n_images, wall, inner))

    print()
    print(
        f"{'track':<8}{'AUROC':>8}{'base':>8}{'p@10':>7}{'p@50':>7}{'images':>8}"
        f"{'wall s':>8}{'img/s':>7}{'warm':>7}"
    )
    for track, ours, base, n, wall, inner in table:
        base_auc = f"{base['auroc']:.3f}" if base else "-"
        print(
            f"{track:<8}{ours['auroc']:>8.3f}{base_auc:>8}{ours['p@10']:>7.2f}"
            f"{ours['p@50']:>7.2f}{n:>8d}{wall:>8.1f}{n / wall:>7.1f}{inner:>7.1f}"
        )
    macro = float(np.mean([t[1]["auroc"] for t in table]))
    macro_base = float(np.mean([t[2]["auroc"] for t in table])) if table[0][2] else float("nan")
    print(f"{'macro':<8}{macro:>8.3f}{macro_base:>8.3f}")
    print()
    print(
        f"{'track':<8}{'AUROC [95% CI]':<25}{'baseline [95% CI]':<25}"
        f"{'ours - base [95% CI]':<27}{'within-survey':>14}{'probe':>7}"
    )
    for track, ours, base, *_ in table:
        b = fmt_ci(base["ci"]) if base else "-"
        d = fmt_ci(ours["delta"]) if ours["delta"] else "-"
        w = f"{ours['within']:.3f}" if track == "gz" else ""
        if track == "gz" and base:
            w += f" ({base['within']:.3f})"
        probe = f"{ours['probe']:.3f}" if "probe" in ours else "-"
        print(f"{track:<8}{fmt_ci(ours['ci']):<25}{b:<25}{d:<27}{w:>14}{probe:>7}")
    print()
    print(f"{'track':<8}{'subtype':<26}{'n':>5}{'AUROC':>8}{'base':>8}")
    for track, ours, base, *_ in table:
        for subtype, (auc, n) in ours["subtypes"].items():
            b = f"{base['subtypes'][subtype][0]:.3f}" if base else "-"
            print(f"{track:<8}{subtype:<26}{n:>5d}{auc:>8.3f}{b:>8}")
    ms = 1000.0 * total_wall / max(1, total_images)
    print()
    print(
        f"end to end (decode, preprocess, embed, fit, score, CLI start-up): "
        f"{total_images} images in {total_wall:.1f} s = {total_images / total_wall:.1f} img/s, "
        f"{ms:.1f} ms/image; seed 274 ms/image -> {SEED_MS_PER_IMAGE / ms:.2f}x"
    )
    print(f"macro_auroc={macro:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
