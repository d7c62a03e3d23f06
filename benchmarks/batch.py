"""`astrolens batch` on Dask against the single-process `astrolens score`, in one run.

    PYTHONPATH=. python benchmarks/batch.py [--tracks hsc,gz,rings] [--synthetic 100000]
                                            [--skip-tracks] [--skip-synthetic] [--work DIR]

Part 1, bench tracks (real cutouts, the default model): per track, the real CLI three times,
`astrolens score`, `astrolens batch --workers 1`, `astrolens batch --workers 2`, each a fresh
process with the reference fitted from scratch. Reports wall time, images/s end to end and in
the scoring phase (the part that scales: the reference is fitted once on the client), ratios
against `score`, and how well batch scores agree with `score` (Spearman rank correlation,
largest absolute difference).

Part 2, synthetic survey (generated 32 px cutouts, `efficientnet-lite0+r64` so that N=100,000
fits in minutes on 2 shared cores): the benchmark starts a 2-worker LocalCluster itself, runs
the CLI against it with `--scheduler`, samples each worker's RSS while it runs, SIGKILLs one
worker process at ~30 % and checks afterwards that every input is in the shards exactly once.
The single-process baseline is `astrolens score` on the first `--baseline` images (it keeps
every decoded image of a run in memory, so it is not run on all N).

Absolute timings on a shared machine are noisy (the load average is printed); read the ratios.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bench"
PHASE = re.compile(r"(\d+) images in ([\d.]+) s: ([\d.]+) images/s, ([\d.]+) images/s per worker")
SYNTHETIC_MODEL = "efficientnet-lite0+r64"


def cli(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "astrolens", *args], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"astrolens {args[0]} failed with exit code {proc.returncode}")
    return wall, proc.stdout + proc.stderr


def read_score_csv(path: Path) -> dict[str, float]:
    with path.open() as fh:
        return {r["path"]: float(r["score"]) for r in csv.DictReader(fh) if r["score"]}


def read_shard_scores(output: Path) -> dict[str, float]:
    from astrolens.app.batch.shards import read_rows

    table = read_rows(output, columns=["uri", "score"]).to_pydict()
    return {u: s for u, s in zip(table["uri"], table["score"], strict=True) if s is not None}


def agreement(a: dict[str, float], b: dict[str, float]) -> tuple[float, float]:
    from scipy.stats import spearmanr

    keys = sorted(set(a) & set(b))
    x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    return float(spearmanr(x, y).statistic), float(np.abs(x - y).max())


def shard_bytes(output: Path) -> int:
    return sum(p.stat().st_size for p in (output / "shards").glob("part-*.parquet"))


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


# ----------------------------------------------------------------------------- part 1


def run_tracks(bench: Path, tracks: list[str], work: Path, env: dict[str, str]) -> None:
    rows: list[list[str]] = []
    for track in tracks:
        ref, queries = bench / track / "reference", bench / track / "test"
        n = sum(1 for _ in queries.iterdir())
        scores_csv = work / f"{track}-score.csv"
        wall, _ = cli(
            ["score", "--reference", str(ref), "--output", str(scores_csv), str(queries)], env
        )
        single = read_score_csv(scores_csv)
        base_rate = n / wall
        rows.append(
            [
                track,
                "score (1 process)",
                f"{wall:.1f}",
                f"{base_rate:.1f}",
                "1.00",
                "-",
                "-",
                "1",
                "0",
            ]
        )
        phase_rates: dict[int, float] = {}
        for workers in (1, 2):
            out = work / f"{track}-w{workers}"
            # Partitions of 32: a track's few hundred images must spread over both workers.
            args = ["batch", "--reference", str(ref), "--workers", str(workers)]
            args += ["--partition-size", "32"]
            wall_b, text = cli([*args, "--output", str(out), str(queries)], env)
            found = PHASE.search(text)
            assert found, text
            phase = float(found.group(3))
            phase_rates[workers] = phase
            rho, diff = agreement(single, read_shard_scores(out))
            rows.append(
                [
                    track,
                    f"batch --workers {workers}",
                    f"{wall_b:.1f}",
                    f"{n / wall_b:.1f}",
                    f"{(n / wall_b) / base_rate:.2f}",
                    f"{phase:.1f} ({float(found.group(4)):.1f}/worker)",
                    f"{phase / phase_rates[1]:.2f}",
                    f"{rho:.5f}",
                    f"{diff:.1e}",
                ]
            )
            if workers == 2:
                per_row = shard_bytes(out) / n
                rows[-1][-1] += f" ({per_row:.0f} B/row)"
    table(
        "Part 1: bench tracks, real CLI (each a fresh process, reference fitted each time)",
        [
            "track",
            "run",
            "wall s",
            "img/s e2e",
            "ratio vs score",
            "scoring-phase img/s",
            "phase vs 1 worker",
            "spearman vs score",
            "max |diff|",
        ],
        rows,
    )


# ----------------------------------------------------------------------------- part 2


def cutout(rng: np.random.Generator, odd: bool, size: int = 32) -> np.ndarray:
    """A noisy elliptical galaxy; the odd ones get a ring or a second nucleus."""
    yy, xx = np.mgrid[:size, :size] - size / 2
    angle, axis = rng.uniform(0, np.pi), rng.uniform(0.4, 1.0)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = (-xx * np.sin(angle) + yy * np.cos(angle)) / axis
    r = np.hypot(u, v)
    img = np.exp(-r / rng.uniform(2, 5))
    if odd:
        if rng.random() < 0.5:
            img += 0.6 * np.exp(-((r - rng.uniform(8, 12)) ** 2) / 2)
        else:
            dx, dy = rng.integers(-8, 8, 2)
            img += np.exp(-np.hypot(xx - dx, yy - dy) / 1.5)
    colour = rng.uniform(0.7, 1.0, 3)
    rgb = img[..., None] * colour + rng.normal(0, 0.04, (size, size, 3))
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def generate(folder: Path, count: int, seed: int, odd_fraction: float) -> None:
    done = folder / ".complete"
    if done.exists() and int(done.read_text()) == count:
        return
    rng = np.random.default_rng(seed)
    for i in range(count):
        sub = folder / f"{i // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(cutout(rng, rng.random() < odd_fraction)).save(sub / f"c{i:07d}.png")
    done.write_text(str(count))


class RssSampler:
    """Each worker's RSS every `period` s (through the Dask client, so restarts show)."""

    def __init__(self, client: object, period: float = 2.0) -> None:
        self.client, self.period = client, period
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        started = time.perf_counter()
        while not self._stop.wait(self.period):
            try:
                rss = self.client.run(lambda: psutil.Process().memory_info().rss)  # type: ignore[attr-defined]
            except Exception:
                continue
            self.samples.append((time.perf_counter() - started, rss))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_synthetic(count: int, baseline: int, work: Path, env: dict[str, str]) -> None:
    from astrolens.app.batch.cluster import open_client
    from astrolens.app.batch.shards import read_rows

    data, ref = work / "synthetic", work / "synthetic-reference"
    t0 = time.perf_counter()
    generate(ref, 300, seed=1, odd_fraction=0.0)
    generate(data, count, seed=2, odd_fraction=0.005)
    print(f"generated {count} cutouts in {time.perf_counter() - t0:.0f} s", flush=True)
    model = ["--model", SYNTHETIC_MODEL]
    base_dirs = sorted(p for p in data.iterdir() if p.is_dir())[: max(1, baseline // 1000)]
    base_n = sum(1 for d in base_dirs for _ in d.iterdir())
    base_csv = work / "synthetic-score.csv"
    # Untimed warm-up: the first use of the +r64 model exports its ONNX graph (via torch).
    cli(
        ["score", *model, "--reference", str(ref), "--output", str(work / "warm.csv"), str(ref)],
        env,
    )
    base_wall, _ = cli(
        ["score", *model, "--reference", str(ref), "--output", str(base_csv), *map(str, base_dirs)],
        env,
    )
    base_rate = base_n / base_wall

    out = work / "synthetic-batch"
    killed: list[int] = []
    # The product's own local cluster (one thread per worker process), as `batch` opens it.
    with open_client(workers=2) as client, RssSampler(client) as sampler:
        args = [
            *("batch", *model, "--reference", str(ref), "--scheduler", client.scheduler.address),
            *("--partition-size", "1000", "--output", str(out), str(data)),
        ]
        proc = subprocess.Popen(
            [sys.executable, "-m", "astrolens", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started = time.perf_counter()
        partitions = -(-count // 1000)
        while proc.poll() is None:
            time.sleep(1)
            written = len(list((out / "shards").glob("part-*.parquet"))) if out.exists() else 0
            if not killed and written >= 0.3 * partitions:
                pids = client.run(os.getpid)
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                print(f"killed worker pid {victim} after {written}/{partitions} shards", flush=True)
        text = proc.stdout.read() if proc.stdout else ""
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(text)
        raise SystemExit("synthetic batch failed")
    found = PHASE.search(text)
    assert found, text
    uris = read_rows(out, columns=["uri"]).column("uri").to_pylist()
    unique = len(set(uris))
    rho, diff = agreement(read_score_csv(base_csv), read_shard_scores(out))
    phase_rate, per_worker = float(found.group(3)), float(found.group(4))
    table(
        f"Part 2: synthetic survey, {count} cutouts of 32 px, model {SYNTHETIC_MODEL}",
        ["run", "images", "wall s", "img/s", "ratio vs score"],
        [
            ["score (1 process)", str(base_n), f"{base_wall:.1f}", f"{base_rate:.1f}", "1.00"],
            [
                "batch, 2 workers, 1 killed (e2e)",
                str(count),
                f"{wall:.1f}",
                f"{count / wall:.1f}",
                f"{(count / wall) / base_rate:.2f}",
            ],
            [
                "  scoring phase",
                str(count),
                "-",
                f"{phase_rate:.1f} ({per_worker:.1f}/worker)",
                f"{phase_rate / base_rate:.2f}",
            ],
        ],
    )
    print(
        f"rows {len(uris)}, unique {unique}, expected {count}: "
        f"{'every row exactly once' if len(uris) == unique == count else 'MISMATCH'}; "
        f"killed pid {killed}; scores vs score on the shared {base_n}: spearman {rho:.5f}, "
        f"max |diff| {diff:.1e}; shards {shard_bytes(out) / 1e6:.1f} MB "
        f"({shard_bytes(out) / count:.0f} B/row)"
    )
    by_worker: dict[str, list[tuple[float, int]]] = {}
    for t, rss in sampler.samples:
        for address, value in rss.items():
            by_worker.setdefault(address, []).append((t, value))
    rows = []
    for address, series in sorted(by_worker.items()):
        values = np.array([v for _, v in series]) / 2**20
        at = [values[min(len(values) - 1, int(f * len(values)))] for f in (0.25, 0.5, 0.75)]
        rows.append(
            [
                address,
                f"{series[0][0]:.0f}-{series[-1][0]:.0f}",
                str(len(values)),
                *(f"{v:.0f}" for v in at),
                f"{values[-1]:.0f}",
                f"{values.max():.0f}",
            ]
        )
    table(
        "Worker RSS (MiB) over each worker's life (a restarted worker has a new address)",
        ["worker", "alive s", "samples", "at 25%", "at 50%", "at 75%", "last", "max"],
        rows,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--tracks", default="hsc,gz,rings")
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=3000)
    parser.add_argument("--skip-tracks", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--work", type=Path, help="keep inputs and outputs here (default: temp)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="astrolens-batch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ASTROLENS_HOME=str(work / "home"), HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; work dir {work}")
    if not args.skip_tracks:
        run_tracks(args.bench, args.tracks.split(","), work, env)
    if not args.skip_synthetic:
        run_synthetic(args.synthetic, args.baseline, work, env)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
