"""Reliability soak: many kill -9s, many fuzzed files, many injected HTTP faults; nothing lost.

    python benchmarks/reliability_soak.py [--rounds 25 --kills 5 --fuzz 2000 --faults 300]

Prints one table. The kill rounds reuse the test suite's harness (tests/reliability): each
round is a fresh home scanned with --kills random kill -9s (at a random time, after a random
number of stored images, or once scores appear), then a finishing run whose store must equal
an uninterrupted scan's (same URIs, no duplicate, integrity ok, no orphan blob or temp file,
nothing unscored or unfinished). The baseline is that uninterrupted scan, timed in the same
run. Run from the repository root with ../shared/data present.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from astrolens.domain.errors import (  # noqa: E402
    SourceUnavailableError,
    TemporarilyUnreadableError,
    UnreadableImageError,
)
from tests.reliability.conftest import copy_into  # noqa: E402
from tests.reliability.fuzz import fuzz, seed_files  # noqa: E402
from tests.reliability.killing import kill_rounds, reference_scan  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
FAULT_KINDS = ("429", "500", "html", "truncate", "reset", "slow")


async def fault_soak(requests: int, rng: random.Random) -> tuple[Counter[str], Counter[str], int]:
    """Random faults on a fake SkyServer; every request must end in an image, a source-
    unavailable error or an unreadable-image error, never anything else."""
    from astrolens.sources.http import Expect, HttpPolicy, PoliteTransport
    from tests.sources.fake_clock import FakeClock
    from tests.sources.fake_services import Fault, start_fake_services

    services, server = start_fake_services(SHARED)
    server.handle_error = lambda *args: None  # type: ignore[method-assign]  # resets: expected
    injected: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    other = 0
    path = "/dr18/SkyServerWS/ImgCutout/getjpeg"
    try:
        for i in range(requests):
            # Backoff and Retry-After sleeps run on a fake clock; timeouts are real (1 s).
            transport = PoliteTransport(
                "soak", HttpPolicy(1000, 1.0, concurrency=2, timeout_s=1.0), clock=FakeClock()
            )
            if rng.random() < 0.7:
                kind = rng.choice(FAULT_KINDS)
                fault = Fault(kind, seconds=rng.uniform(0.0, 30.0) if kind != "slow" else 1.5)
                services.inject(path, fault, times=rng.randint(1, 5))
                injected[kind] += 1
            url = f"{services.base_url}{path}?ra={100 + i * 0.01:.4f}&dec=1.0&width=64&height=64"
            try:
                await asyncio.wait_for(transport.get(url, expect=Expect.IMAGE), 60)
                outcomes["image"] += 1
            except SourceUnavailableError:
                outcomes["source unavailable (retried later)"] += 1
            except TemporarilyUnreadableError:
                outcomes["temporary quarantine (retried later)"] += 1
            except UnreadableImageError:
                outcomes["unreadable (quarantined)"] += 1
            except Exception:
                other += 1
            finally:
                await transport.aclose()
                services._faults.clear()  # faults not consumed by this request
    finally:
        server.shutdown()
        server.server_close()
    return injected, outcomes, other


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--kills", type=int, default=5, help="kill -9s per round")
    parser.add_argument("--fuzz", type=int, default=2000, help="fuzzed files")
    parser.add_argument("--faults", type=int, default=300, help="HTTP requests with faults")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--with-frame", action="store_true", help="add HorseHead (65 images)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows: list[tuple[str, str]] = []

    with tempfile.TemporaryDirectory(prefix="astrolens-soak-") as tmp:
        base = Path(tmp)
        demo = SHARED / "demo"
        files = sorted(demo.glob("normal__*"))[:5] + sorted(demo.glob("anomaly__*"))[:3]
        if args.with_frame:
            files.append(demo / "picture_or_fits__HorseHead.fits")
        folder = copy_into(base / "in", *files)
        started = time.monotonic()
        reference = reference_scan(base / "reference", folder)
        baseline_s = time.monotonic() - started
        kills = kill_rounds(
            base / "homes",
            folder,
            reference,
            rounds=args.rounds,
            kills_per_round=args.kills,
            rng=rng,
        )
        per_round = kills.seconds / max(1, kills.rounds)
        rows += [
            ("kill -9 trials", str(kills.trials)),
            ("  processes killed", str(kills.kills)),
            ("  finished before the kill point", str(kills.finished_early)),
            ("  kill points", ", ".join(f"{k} {v}" for k, v in sorted(kills.points.items()))),
            ("  rounds equal to the uninterrupted scan", f"{kills.rounds_equal} of {kills.rounds}"),
            ("  images per scan", str(reference.images)),
            ("  baseline: uninterrupted scan", f"{baseline_s:.1f} s"),
            ("  one round (kills + finish) / baseline", f"{per_round / baseline_s:.1f}x"),
        ]
        rows += [("  problem", p) for p in kills.problems[:10]]

    started = time.monotonic()
    report = fuzz(seed_files(SHARED), args.fuzz, random.Random(args.seed), time_limit_s=60)
    rows += [
        ("fuzz cases (JPEG/PNG/TIFF/FITS)", str(report.cases)),
        ("  decoded / refused", f"{report.decoded} / {report.refused}"),
        ("  crashes / hangs", f"{len(report.crashes)} / {len(report.hangs)}"),
        ("  seconds", f"{time.monotonic() - started:.0f}"),
    ]
    rows += [("  crash", c) for c in report.crashes[:10]] + [("  hang", h) for h in report.hangs]

    injected, outcomes, other = asyncio.run(fault_soak(args.faults, random.Random(args.seed)))
    rows += [
        ("HTTP requests / faults injected", f"{args.faults} / {sum(injected.values())}"),
        ("  faults by kind", ", ".join(f"{k} {v}" for k, v in sorted(injected.items()))),
        ("  outcomes", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))),
        ("  any other outcome (a finding)", str(other)),
    ]
    kills_lost = args.rounds > 0 and not kills.nothing_lost
    lost = kills_lost or report.crashes or report.hangs or other
    rows.append(("NOTHING LOST", "no" if lost else "yes"))

    width = max(len(k) for k, _ in rows)
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-+-{'-' * 40}")
    for key, value in rows:
        print(f"{key.ljust(width)} | {value}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
