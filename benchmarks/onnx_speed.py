"""ONNX Runtime vs torch for the default backbone (EfficientNet-Lite0, 224 px, batch 32).

    PYTHONPATH=. python benchmarks/onnx_speed.py [--bench DIR] [--images 96] [--repeats 3]

Embeds real benchmark cutouts (manifest `reference` rows, every track) and prints images/s
for the network alone (a pre-built batch) and end to end (float images -> unit vectors:
resize, normalise, network, L2), the preprocessing alone in torch and in numpy, and the
minimum cosine of each variant's vectors to torch fp32. ONNX Runtime is what the desktop
bundle runs; it may share torch's model_id only while that cosine stays >= 0.999.
Run it on an idle machine: the load average is printed because a busy one skews timings.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from astrolens.ml.embedders.efficientnet_lite import LITE_MEAN, LITE_STD, EfficientNetLite0Embedder
from astrolens.ml.embedders.onnx_embedder import OnnxLite0Embedder
from astrolens.ml.embedders.onnx_export import export_efficientnet_lite0, onnx_file_name
from astrolens.ml.embedders.preprocess import to_array_batch, to_batch
from astrolens.ml.embedders.torch_runtime import torch_module, usable_cores
from benchmarks.embed_speed import BATCH, load_images


def best_rate(fn, n: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Images/s of the fastest of `repeats` runs (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_bench = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bench"
    parser.add_argument("--bench", type=Path, default=default_bench)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch = torch_module()
    images = load_images(args.bench, args.images)
    n = len(images)
    print(
        f"{n} images, sizes {sorted({im.shape[0] for im in images})}, batch {BATCH}, 224 px, "
        f"{usable_cores()} cores (torch threads {torch.get_num_threads()}), "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    def prep_torch() -> None:
        for s in range(0, n, BATCH):
            to_batch(images[s : s + BATCH], 224, LITE_MEAN, LITE_STD)

    def prep_numpy() -> None:
        for s in range(0, n, BATCH):
            to_array_batch(images[s : s + BATCH], 224, LITE_MEAN, LITE_STD)

    print(f"preprocessing, torch: {best_rate(prep_torch, n, args.repeats):.0f} img/s")
    print(f"preprocessing, numpy: {best_rate(prep_numpy, n, args.repeats):.0f} img/s\n")

    with tempfile.TemporaryDirectory() as tmp:
        export_efficientnet_lite0(Path(tmp) / onnx_file_name())
        variants = [
            ("torch fp32", EfficientNetLite0Embedder(channels_last=False)),
            ("torch fp32 + channels_last", EfficientNetLite0Embedder()),
            ("torch bf16 + channels_last", EfficientNetLite0Embedder(precision="bf16")),
            ("onnxruntime fp32", OnnxLite0Embedder(models_dir=Path(tmp))),
        ]
        reference: np.ndarray | None = None
        header = f"{'variant':30} {'network img/s':>14} {'end-to-end img/s':>17} {'min cos':>9}"
        print(header)
        for label, embedder in variants:
            embedder.embed(images[:BATCH])  # load and warm up
            if isinstance(embedder, OnnxLite0Embedder):
                batch_np = to_array_batch(images[:BATCH], 224, LITE_MEAN, LITE_STD)
                session = embedder._session

                def network(s=session, b=batch_np) -> None:  # type: ignore[no-untyped-def]
                    s.run(None, {"pixels": b})
            else:
                batch_t = to_batch(images[:BATCH], 224, LITE_MEAN, LITE_STD)

                def network(e=embedder, b=batch_t) -> None:  # type: ignore[no-untyped-def]
                    e._forward_numpy(b)

            net_rate = best_rate(network, BATCH, args.repeats)
            vectors: list[np.ndarray] = []

            def end_to_end(e=embedder, out=vectors) -> None:  # type: ignore[no-untyped-def]
                out[:] = [e.embed(images)]

            e2e_rate = best_rate(end_to_end, n, args.repeats)
            if reference is None:
                reference = vectors[0]
            cosine = float(np.min(np.sum(vectors[0] * reference, axis=1)))
            print(f"{label:30} {net_rate:14.1f} {e2e_rate:17.1f} {cosine:9.6f}")


if __name__ == "__main__":
    main()
