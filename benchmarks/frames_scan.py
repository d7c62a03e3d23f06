"""A scan of large frames: decode in worker processes against decode on the io threads.

    PYTHONPATH=. python benchmarks/frames_scan.py [--frames 12] [--side 1024] [--repeats 2]
        [--folder DIR]

Writes `--frames` synthetic star fields (float32 FITS, `--side` px square, stars and a few
galaxies on a noisy sky, each seed its own field so nothing is a duplicate), then runs the
real `astrolens scan` on them in a fresh home, interleaved: with the default decode workers
and with ASTROLENS_DECODE_WORKERS=0 (every frame decoded on the app's io threads, as before).
Each frame becomes a preview and up to 64 stamps. Wall and CPU seconds and peak RSS come from
the child's rusage; read the ratio, measured in the same run. `--folder` scans a folder of
real frames instead of the synthetic ones.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def star_field(side: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sky = rng.normal(100.0, 5.0, size=(side, side)).astype(np.float32)
    yy, xx = np.mgrid[0:side, 0:side]
    for _ in range(120):
        x, y = rng.uniform(10, side - 10, size=2)
        flux, sigma = rng.uniform(200, 5000), rng.uniform(1.2, 4.0)
        box = (slice(max(0, int(y) - 15), int(y) + 16), slice(max(0, int(x) - 15), int(x) + 16))
        sky[box] += flux * np.exp(
            -((xx[box] - x) ** 2 + (yy[box] - y) ** 2) / (2 * sigma**2)
        ).astype(np.float32)
    return sky


def write_frames(folder: Path, n: int, side: int) -> None:
    from astropy.io import fits

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        fits.PrimaryHDU(star_field(side, 1000 + i)).writeto(folder / f"field_{i:03d}.fits")


def scan(folder: Path, workers: str | None) -> tuple[float, float, float, str]:
    home = Path(tempfile.mkdtemp(prefix="frames-home-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    if workers is not None:
        env["ASTROLENS_DECODE_WORKERS"] = workers
    args = [sys.executable, "-m", "astrolens", "scan", "--home", str(home), str(folder)]
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*args, "--offline", "--top", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
    shutil.rmtree(home, ignore_errors=True)
    if status != 0:
        sys.exit(f"scan failed:\n{text[-2000:]}")
    stored = next((line for line in text.splitlines() if line.startswith("Stored")), "")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--folder", type=Path, help="real frames to scan instead")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "frames"
        if args.folder is None:
            write_frames(folder, args.frames, args.side)
        files = [p for p in folder.iterdir() if p.is_file()]
        size_mb = sum(p.stat().st_size for p in files) / 1e6
        what = f"{folder}" if args.folder else f"{args.frames} frames of {args.side} px"
        print(f"## A scan of {what} ({len(files)} files, {size_mb:.0f} MB)")
        print(f"(load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})\n")
        print("| decode | wall s | CPU s | peak RSS MB | wall / in-process |")
        print("|---|---|---|---|---|")
        base: float | None = None
        for _ in range(args.repeats):
            for label, workers in (("io threads (before)", "0"), ("worker processes", None)):
                wall, cpu, peak, stored = scan(folder, workers)
                base = wall if workers == "0" else base
                ratio = wall / base if base else float("nan")
                print(f"| {label} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | {ratio:.2f} |")
        print(f"\nlast run: {stored}")


if __name__ == "__main__":
    main()
