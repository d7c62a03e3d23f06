"""Detection benchmark: `astrolens score` per track against the baseline, measured in one run.

For each track of a manifest (`path, track, split, label, subtype, ...`), the product scores the
track's `test` images against its `reference` images through the real CLI (`astrolens score`,
a subprocess, so start-up and decoding count). The baseline of DESIGN.md is measured in the
same run on the same machine: the same backbone's pooled features (EfficientNet-Lite0, no
test-time augmentation), cosine 5-NN mean distance to the reference.

Prints AUROC per track and per anomaly subtype, precision@10/@50, wall time and images/s (with
process start-up; "warm" is the command's own rate without it), and the ratio of our
per-image time to the seed's 274 ms.

    .venv/bin/python benchmarks/detection.py [--bench DIR] [--tracks hsc,gz] [--skip-baseline]
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
    bench: Path, rows: list[dict[str, str]], workdir: Path
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
    cmd = [str(exe), "score", "--reference", str(ref_dir), "--output", str(out), *queries]
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
    from astrolens.app.batch_score import _decode_whole
    from astrolens.imaging.decoder import ImageDecoder

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


def evaluate(rows: list[dict[str, str]], bench: Path, scores: dict[str, float]) -> dict:
    test = [r for r in rows if r["split"] == "test" and str(bench / r["path"]) in scores]
    labels = np.array([r["label"] == "anomaly" for r in test], dtype=float)
    values = np.array([scores[str(bench / r["path"])] for r in test])
    result = {
        "auroc": float(roc_auc_score(labels, values)),
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
    args = parser.parse_args()

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

    table = []
    total_images, total_wall = 0, 0.0
    for track in tracks:
        with tempfile.TemporaryDirectory(prefix=f"astrolens-bench-{track}-") as tmp:
            scores, wall, inner = run_product(args.bench, by_track[track], Path(tmp))
        ours = evaluate(by_track[track], args.bench, scores)
        n_images = len(by_track[track])
        total_images += n_images
        total_wall += wall
        base = None
        if embedder is not None:
            base = evaluate(
                by_track[track], args.bench, run_baseline(args.bench, by_track[track], embedder)
            )
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
