"""Embedding speed of EfficientNet-Lite0 on this CPU, per precision and memory layout.

    PYTHONPATH=. python benchmarks/embed_speed.py [--bench DIR] [--images 96]

Embeds real benchmark cutouts (manifest `reference` rows, default ../shared/data/bench) at
batch 32 and prints images/s, both for the network alone (pre-resized batch) and end to end
(decode-ready float images -> unit vectors, including resize and normalisation), plus the
cosine similarity of each variant's embeddings to fp32 (a variant is only worth keeping if
the minimum stays >= 0.99). Prints the load average: on a shared machine it skews timings.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from astrolens.ml.embedders.efficientnet_lite import EfficientNetLite0Embedder
from astrolens.ml.embedders.preprocess import to_batch
from astrolens.ml.embedders.torch_runtime import torch_module, usable_cores

BATCH = 32
VARIANTS = [  # (label, precision, channels_last, input size)
    ("fp32", "fp32", False, 224),
    ("fp32 + channels_last", "fp32", True, 224),
    ("bf16 autocast", "bf16", False, 224),
    ("bf16 autocast + channels_last", "bf16", True, 224),
    # Another input size makes other features: its cosine to fp32@224 is no closeness test.
    ("bf16 + channels_last @128 px", "bf16", True, 128),
]


def load_images(bench: Path, count: int) -> list[np.ndarray]:
    with (bench / "manifest.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "reference"]
    # Take from every track so that sizes and surveys are mixed as in real use.
    by_track: dict[str, list[str]] = {}
    for row in rows:
        by_track.setdefault(row["track"], []).append(row["path"])
    paths = [p for group in zip(*by_track.values(), strict=False) for p in group][:count]
    return [np.asarray(Image.open(bench / p).convert("RGB"), np.float32) / 255 for p in paths]


def rate(seconds: float, n: int) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_bench = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bench"
    parser.add_argument("--bench", type=Path, default=default_bench)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    torch = torch_module()
    images = load_images(args.bench, args.images)
    sizes = sorted({im.shape[0] for im in images})
    print(
        f"{len(images)} images, sizes {sizes}, batch {BATCH}, torch threads "
        f"{torch.get_num_threads()} of {usable_cores()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    started = time.perf_counter()
    for start in range(0, len(images), BATCH):
        to_batch(images[start : start + BATCH], 224, (0.5,) * 3, (0.5,) * 3)
    prep_rate = rate(time.perf_counter() - started, len(images))
    print(f"preprocessing alone (resize + normalise): {prep_rate:.0f} img/s\n")

    reference: np.ndarray | None = None
    print(f"{'variant':32} {'network img/s':>14} {'end-to-end img/s':>17} {'min cos vs fp32':>16}")
    for label, precision, channels_last, size in VARIANTS:
        embedder = EfficientNetLite0Embedder(
            precision=precision, channels_last=channels_last, input_size=size
        )
        embedder.embed(images[:BATCH])  # load weights and warm the kernels up
        batch = to_batch(images[:BATCH], size, embedder._mean, embedder._std)
        started = time.perf_counter()
        for _ in range(args.repeats):
            embedder._forward_numpy(batch)
        network = rate(time.perf_counter() - started, BATCH * args.repeats)
        started = time.perf_counter()
        vectors = embedder.embed(images)
        end_to_end = rate(time.perf_counter() - started, len(images))
        if reference is None:
            reference = vectors
        cosine = f"{np.min(np.sum(vectors * reference, axis=1)):.4f}" if size == 224 else "-"
        print(f"{label:32} {network:14.1f} {end_to_end:17.1f} {cosine:>16}")

    embedder = EfficientNetLite0Embedder(precision="bf16")
    embedder.embed(images[:BATCH])
    started = time.perf_counter()
    embedder.embed(images[:BATCH], tta="dihedral")
    print(
        f"\nbf16 + channels_last with dihedral TTA (8 views): "
        f"{rate(time.perf_counter() - started, BATCH):.1f} img/s"
    )


if __name__ == "__main__":
    main()
