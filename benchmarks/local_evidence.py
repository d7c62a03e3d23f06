"""Local evidence and morphology against the same-run baseline, per bench track (in-process).

For each track: the product's global view (EfficientNet-Lite0 on ONNX Runtime, centre crop,
as `astrolens score` embeds) scored by cosine 5-NN mean distance (the crop kNN baseline);
PatchCore-mean on Lite0 patch features (astrolens.ml.detectors.patchcore); the morphology
detector (astrolens.ml.detectors.morphology) when present. Printed: AUROC with bootstrap 95 %
intervals, the paired AUROC difference to the baseline with its interval, within-survey AUROC
for gz, and images/s of each feature extractor measured in this run.

    python benchmarks/local_evidence.py [--tracks hsc,gz,rings] [--max-bank 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats import auroc_ci, fmt_ci, paired_delta_ci, survey_of, within_group_auroc

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = ROOT.parent / "shared" / "data" / "bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--tracks", default="hsc,gz,rings")
    parser.add_argument("--max-bank", type=int, default=20_000)
    parser.add_argument("--skip-patchcore", action="store_true", help="morphology only")
    args = parser.parse_args()

    import csv
    import tempfile

    from astrolens.imaging.decoder import ImageDecoder
    from astrolens.ml.detectors.knn import KNNDetector
    from astrolens.ml.detectors.patchcore import PatchCoreDetector
    from astrolens.ml.embedders.registry import create_embedder
    from astrolens.ml.features.multiview import product_view
    from astrolens.ml.features.patches import PATCH_DIM, Lite0PatchFeatures
    from astrolens.services.batch_score import _decode_whole

    try:
        from astrolens.ml.detectors.morphology import MorphologyDetector, morphology_features
    except ImportError:
        MorphologyDetector = None

    with (args.bench / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    by_track = defaultdict(list)
    for r in rows:
        by_track[r["track"]].append(r)

    decoder = ImageDecoder()
    glob = product_view(
        create_embedder("efficientnet-lite0", models_dir=Path(tempfile.gettempdir()))
    )
    patches = Lite0PatchFeatures()
    timings: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])

    def timed(name, fn, images):
        start = time.perf_counter()
        out = fn(images)
        timings[name][0] += time.perf_counter() - start
        timings[name][1] += len(images)
        return out

    print(f"{'track':<7}{'detector':<14}{'AUROC [95% CI]':<26}{'vs crop kNN [95% CI]':<28}"
          f"{'within-survey':>14}")  # fmt: skip
    for track in [t for t in args.tracks.split(",") if t in by_track]:
        ref_rows = [r for r in by_track[track] if r["split"] == "reference"]
        test_rows = [r for r in by_track[track] if r["split"] == "test"]
        ref_px = [_decode_whole(decoder, args.bench / r["path"]).pixels for r in ref_rows]
        test_px = [_decode_whole(decoder, args.bench / r["path"]).pixels for r in test_rows]
        labels = np.array([r["label"] == "anomaly" for r in test_rows], dtype=int)
        surveys = [survey_of(r["origin"]) for r in test_rows]

        g_ref, g_test = timed("global", glob.embed, ref_px), timed("global", glob.embed, test_px)
        results = {"crop kNN": KNNDetector(k=5).fit(g_ref).score(g_test)}
        pc = None
        if not args.skip_patchcore:
            p_ref = timed("patches", patches.embed, ref_px)
            p_test = timed("patches", patches.embed, test_px)
            start = time.perf_counter()
            pc = PatchCoreDetector(PATCH_DIM, max_bank=args.max_bank).fit(p_ref)
            results["patchcore"] = pc.score(p_test)
            timings["patchcore fit+score"][0] += time.perf_counter() - start
            timings["patchcore fit+score"][1] += len(test_px)
        if MorphologyDetector is not None:
            m_ref = timed("morphology", morphology_features, ref_px)
            m_test = timed("morphology", morphology_features, test_px)
            results["morphology"] = MorphologyDetector().fit(m_ref).score(m_test)
        base = results["crop kNN"]
        for name, scores in results.items():
            delta = "-" if name == "crop kNN" else fmt_ci(paired_delta_ci(labels, scores, base))
            within = within_group_auroc(labels, scores, surveys) if track == "gz" else None
            print(f"{track:<7}{name:<14}{fmt_ci(auroc_ci(labels, scores)):<26}{delta:<28}"
                  f"{'' if within is None else f'{within:.3f}':>14}")  # fmt: skip
        if pc is not None:
            total = len(p_ref) * p_ref.shape[1] // PATCH_DIM
            print(f"{'':<7}(patch bank {pc.bank_size} of {total})")
    print()
    for name, (seconds, n) in timings.items():
        print(f"{name:<22}{n / seconds:8.1f} images/s  ({n} images, {seconds:.1f} s)")
    g = timings["global"]
    for name in ("patches", "morphology"):
        if name in timings:
            t = timings[name]
            print(f"{name} cost {(t[0] / t[1]) / (g[0] / g[1]):.2f}x the global embedding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
