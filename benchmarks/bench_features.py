"""Bench images -> EfficientNet-Lite0 features (and ImageNet logits), cached on disk.

Embedding every bench image takes minutes on a 2-core machine, and both learning
benchmarks need the same vectors, so they are cached under a cache dir (never in the repo),
keyed by the model id and each file's SHA-256: a changed image or model is re-embedded.

    PYTHONPATH=. python benchmarks/bench_features.py [--bench DIR] [--cache DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bench"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "astrolens-bench"


@dataclass(frozen=True)
class BenchRow:
    path: str
    track: str
    split: str
    label: str
    subtype: str
    origin: str

    @property
    def is_anomaly(self) -> bool:
        return self.label == "anomaly"


def read_manifest(bench: Path) -> list[BenchRow]:
    with (bench / "manifest.csv").open(newline="") as handle:
        return [
            BenchRow(
                r["path"], r["track"], r["split"], r["label"], r["subtype"], r.get("origin", "")
            )
            for r in csv.DictReader(handle)
        ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_file(cache: Path, model_id: str) -> Path:
    return cache / (re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id) + ".npz")


def bench_features(
    bench: Path, cache: Path = DEFAULT_CACHE, *, verbose: bool = True
) -> tuple[list[BenchRow], np.ndarray, np.ndarray]:
    """(manifest rows, (N, D) unit features, (N, 1000) logits), in manifest order."""
    from astrolens.imaging.decoder import ImageDecoder
    from astrolens.ml.embedders.efficientnet_lite import EfficientNetLite0Embedder
    from astrolens.services.batch_score import _decode_whole

    rows = read_manifest(bench)
    embedder = EfficientNetLite0Embedder(batch_size=32)
    store = _cache_file(cache, embedder.model_id)
    known: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if store.exists():
        with np.load(store) as data:
            for h, f, lg in zip(data["hashes"], data["features"], data["logits"], strict=True):
                known[str(h)] = (f, lg)
    hashes = [_sha256(bench / r.path) for r in rows]
    missing = [i for i, h in enumerate(hashes) if h not in known]
    if missing:
        started = time.perf_counter()
        decoder = ImageDecoder()
        for start in range(0, len(missing), 64):
            chunk = missing[start : start + 64]
            pixels = [_decode_whole(decoder, bench / rows[i].path).pixels for i in chunk]
            feats, logits = embedder.embed_with_logits(pixels)
            for i, f, lg in zip(chunk, feats, logits, strict=True):
                known[hashes[i]] = (f, lg)
            if verbose:
                done = min(start + 64, len(missing))
                print(f"embedded {done}/{len(missing)} ({time.perf_counter() - started:.0f} s)")
        cache.mkdir(parents=True, exist_ok=True)
        keys = sorted(known)
        tmp = store.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            hashes=np.array(keys),
            features=np.stack([known[k][0] for k in keys]),
            logits=np.stack([known[k][1] for k in keys]),
        )
        tmp.replace(store)  # atomic: an interrupted run never leaves a torn cache
    features = np.stack([known[h][0] for h in hashes]).astype(np.float32)
    logits = np.stack([known[h][1] for h in hashes]).astype(np.float32)
    return rows, features, logits


def bench_photometry(
    bench: Path, cache: Path = DEFAULT_CACHE, *, verbose: bool = True
) -> np.ndarray:
    """(N, P) photometric features in manifest order, measured as the product measures them
    (decoded, shrunk, `photometric_features`), cached by file SHA-256 and feature version."""
    from astrolens.imaging.decoder import ImageDecoder
    from astrolens.ml.features.photometry import (
        PHOTOMETRY_MODEL_ID,
        photometric_features,
        shrink,
    )
    from astrolens.services.batch_score import _decode_whole

    rows = read_manifest(bench)
    store = _cache_file(cache, PHOTOMETRY_MODEL_ID)
    known: dict[str, np.ndarray] = {}
    if store.exists():
        with np.load(store) as data:
            known = {str(h): f for h, f in zip(data["hashes"], data["features"], strict=True)}
    hashes = [_sha256(bench / r.path) for r in rows]
    missing = [i for i, h in enumerate(hashes) if h not in known]
    if missing:
        started = time.perf_counter()
        decoder = ImageDecoder()
        for i in missing:
            pixels = _decode_whole(decoder, bench / rows[i].path).pixels
            known[hashes[i]] = photometric_features(shrink(pixels))
        if verbose:
            print(f"measured {len(missing)} images ({time.perf_counter() - started:.0f} s)")
        cache.mkdir(parents=True, exist_ok=True)
        keys = sorted(known)
        tmp = store.with_suffix(".tmp.npz")
        np.savez(tmp, hashes=np.array(keys), features=np.stack([known[k] for k in keys]))
        tmp.replace(store)
    return np.stack([known[h] for h in hashes]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    rows, features, _ = bench_features(args.bench, args.cache)
    print(f"{len(rows)} images, features {features.shape}")


if __name__ == "__main__":
    main()
