"""The plain baseline that `benchmarks/scan_speed.py` runs next to `astrolens scan`.

    PYTHONPATH=. python benchmarks/scan_baseline.py [--bench DIR] [FOLDER ...]

What any script would do with these images, and nothing more: decode each file with Pillow,
embed it with the product's backbone (EfficientNet-Lite0 on ONNX Runtime, the same centre
view, batch 32) and score it by its mean cosine distance to its 5 nearest neighbours among
the others. No store, no thumbnails, no calibration, no verdicts. Prints one line:
`images=<n> seconds=<wall>` so the caller can read it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from astrolens.domain.resources import bundled_models_dir
from astrolens.ml.embedders.registry import create_embedder
from astrolens.ml.features.multiview import product_view

SUFFIXES = {".png", ".jpg", ".jpeg"}
BATCH = 32


def image_files(folders: list[Path]) -> list[Path]:
    return sorted(p for f in folders for p in f.rglob("*") if p.suffix.lower() in SUFFIXES)


def decode(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def knn5(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    top = -np.partition(-sims, 4, axis=1)[:, :5]
    return np.asarray(1.0 - top.mean(axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_bench = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bench"
    parser.add_argument("folders", nargs="*", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    files = image_files(args.folders or [default_bench])
    with tempfile.TemporaryDirectory() as models:
        embedder = product_view(
            create_embedder(
                "efficientnet-lite0", models_dir=Path(models), search_dirs=[bundled_models_dir()]
            )
        )
        chunks = []
        for start in range(0, len(files), BATCH):
            images = [decode(p) for p in files[start : start + BATCH]]
            chunks.append(embedder.embed(images))
    scores = knn5(np.concatenate(chunks))
    seconds = time.perf_counter() - started
    print(f"images={len(scores)} seconds={seconds:.2f}")


if __name__ == "__main__":
    main()
