"""How long exporting a big candidate list takes in each format, against a hand-written
`csv.writer` of the same columns measured in the same run (the baseline a user would get
without astropy: no units, no UCDs, no types).

    PYTHONPATH=. python benchmarks/export_formats.py [--rows 20000]

Prints a table: format, seconds, ratio to the baseline, rows/s, file size. The candidates are
real domain objects with positions (10% without), three detectors, a catalog match on half.
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogObject, CatalogVerdict, CrossMatch, MatchStatus
from astrolens.domain.images import ImageGroup, ImageRecord, Provenance
from astrolens.domain.scoring import ScoreResult, Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.domain.toolbox import ExportFormat
from astrolens.interop.candidate_table import candidates_table
from astrolens.interop.export import export_candidates


def make(n: int) -> list[Candidate]:
    out = []
    for i in range(n):
        sky = None if i % 10 == 0 else SkyPosition((i * 0.37) % 360, ((i * 0.11) % 170) - 85)
        prov = Provenance("sdss", f"https://skyserver.sdss.org/x/{i}.jpg", sky=sky)
        rec = ImageRecord(
            i,
            f"{i:064x}",
            f"{i:016x}",
            prov,
            64,
            64,
            ImageGroup.SURVEY,
            datetime(2026, 1, 1, tzinfo=UTC),
        )
        res = ScoreResult(
            2.0 + i % 7,
            0.001 * (1 + i % 9),
            Verdict.NEAR_MISS,
            {"knn": 1.0 + i % 3, "mahalanobis": 2.0, "energy": 0.5},
        )
        xms: tuple[CrossMatch, ...] = ()
        if sky is not None and i % 2:
            obj = CatalogObject(f"SDSS J{i:06d}", "G", sky, 1.5, service="simbad")
            xms = (CrossMatch("simbad", MatchStatus.MATCH, 10.0, (obj,)),)
        out.append(Candidate(rec, res, "efficientnet-lite0", xms, CatalogVerdict.KNOWN_OBJECT))
    return out


def baseline_csv(cands: list[Candidate], path: Path) -> None:
    table = candidates_table(cands[:1])  # the same column names
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(table.colnames)
        for c in cands:
            sky = c.image.provenance.sky
            w.writerow(
                [
                    c.id,
                    sky.ra_deg if sky else math.nan,
                    sky.dec_deg if sky else math.nan,
                    c.result.score,
                    c.result.p_value,
                    c.result.verdict.value,
                    *c.result.detector_scores.values(),
                    c.catalog_verdict.value,
                    "",
                    "",
                    math.nan,
                    "",
                    "",
                    c.image.provenance.source_id,
                    c.image.provenance.uri,
                    c.model_id,
                ]
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    args = ap.parse_args()
    cands = make(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        base = Path(tmp) / "baseline.csv"
        baseline_csv(cands, base)
        base_s = time.perf_counter() - t0
        print(f"{'format':<10} {'seconds':>8} {'x baseline':>11} {'rows/s':>10} {'MB':>7}")
        print(
            f"{'csv.writer':<10} {base_s:8.2f} {1.0:11.2f} {args.rows / base_s:10.0f} "
            f"{base.stat().st_size / 1e6:7.2f}"
        )
        for fmt in ExportFormat:
            path = Path(tmp) / f"c{fmt.suffix}"
            t0 = time.perf_counter()
            export_candidates(cands, fmt, path)
            s = time.perf_counter() - t0
            print(
                f"{fmt.value:<10} {s:8.2f} {s / base_s:11.2f} {args.rows / s:10.0f} "
                f"{path.stat().st_size / 1e6:7.2f}"
            )


if __name__ == "__main__":
    main()
