"""What a user's `astrolens scan` costs, against a plain script, and as the archive grows.

    PYTHONPATH=. python benchmarks/scan_speed.py [--bench DIR] [--repeats 2]
        [--stores 1000,10000,100000] [--batch 200] [--skip-full] [--skip-stores]

1. Full scan: the real `astrolens scan` (a subprocess, fresh home, offline catalogs) of every
   bench image, interleaved with `benchmarks/scan_baseline.py` (decode + Lite0 ONNX embed +
   5-NN, nothing stored) over the same files, `--repeats` times each. Wall seconds, user+sys
   CPU seconds and peak RSS come from the child's own rusage (os.wait4).
2. A small batch into a grown archive: the bench minus `--batch` held-out images is scanned
   into a home once; for each store size that home is copied and grown to the size with
   synthetic normal images written through the repository's bulk path
   (`SqliteRepository.add_scored_images`: real vectors plus noise, no files), then the
   held-out batch is scanned into it. The cost of the batch should not depend on the size.
3. The idle agent: `AgentRuntime` scans the held-out batch into a fresh home, then sits idle;
   its resident memory (and peak) is read from /proc after a collection.

Absolute timings on a shared 2-core machine are noisy: read the ratios, which come from runs
interleaved in the same invocation. The load average is printed with the table.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".png", ".jpg", ".jpeg"}


@dataclasses.dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_mb: float
    output: str


def run_child(args: list[str], tree: Path = ROOT) -> Run:
    """Run a child to completion (importing astrolens from `tree`); its own rusage gives
    CPU time and peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        # cwd too: `python -m` puts the working directory first on sys.path.
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tree)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{text[-3000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text)


def scan_cmd(home: Path, *paths: Path) -> list[str]:
    return [sys.executable, "-m", "astrolens", "scan", "--home", str(home), "--offline",
            "--top", "3", *map(str, paths)]  # fmt: skip


def baseline_cmd(*paths: Path) -> list[str]:
    return [sys.executable, str(ROOT / "benchmarks" / "scan_baseline.py"), *map(str, paths)]


LIMIT: int | None = None  # --limit: a quick smoke run on the first N bench images


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)[:LIMIT]


def link_folder(files: list[Path], bench: Path, into: Path) -> Path:
    """A folder of symlinks to `files` (keeping their relative layout)."""
    for path in files:
        target = into / path.relative_to(bench)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    return into


def load_avg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# ------------------------------------------------------------------------ 1. full scan


def full_scan(bench: Path, repeats: int, work: Path, compare: Path | None = None) -> None:
    files = image_files(bench)
    n = len(files)
    folder = bench if LIMIT is None else link_folder(files, bench, work / "limited")
    rows: list[tuple[str, Run]] = []
    for r in range(repeats):
        rows.append(("baseline", run_child(baseline_cmd(folder))))
        home = work / f"full-{r}"
        rows.append(("astrolens scan", run_child(scan_cmd(home, folder))))
        shutil.rmtree(home, ignore_errors=True)
        if compare is not None:  # the same scan with another checkout's code (e.g. main)
            rows.append((f"scan ({compare.name})", run_child(scan_cmd(home, folder), compare)))
            shutil.rmtree(home, ignore_errors=True)
    base = min(run.wall_s for name, run in rows if name == "baseline")
    base_cpu = min(run.cpu_s for name, run in rows if name == "baseline")
    print(f"\n## Full scan of {n} bench images (load average {load_avg()})\n")
    print("| run | wall s | images/s | CPU s | peak RSS MB | wall / baseline | CPU / baseline |")
    print("|---|---|---|---|---|---|---|")
    for name, run in rows:
        print(
            f"| {name} | {run.wall_s:.1f} | {n / run.wall_s:.1f} | {run.cpu_s:.1f} | "
            f"{run.peak_mb:.0f} | {run.wall_s / base:.2f} | {run.cpu_s / base_cpu:.2f} |",
            flush=True,
        )


# ------------------------------------------------------------------ 2. batch into stores


def grow_store(home: Path, size: int, seed: int = 0) -> int:
    """Add synthetic normal images until the store holds `size`; returns how many were added."""
    from astrolens.domain.embedding import Embedding
    from astrolens.domain.images import DecodedImage, Provenance
    from astrolens.domain.scoring import ScoreResult, Thresholds, Verdict
    from astrolens.domain.writes import NewImage
    from astrolens.settings.paths import app_paths
    from astrolens.store.repository import SqliteRepository

    paths = app_paths(home)
    repo = SqliteRepository(paths.database, backups_dir=paths.backups_dir)
    try:
        have = repo.count_images()
        missing = size - have
        if missing <= 0:
            return 0
        ids, vectors = repo.embeddings(model_id := _model_id(repo))
        group = repo.get_image(ids[0]).group  # type: ignore[union-attr]
        rng = np.random.default_rng(seed)
        pixels = np.zeros((8, 8), dtype=np.float32)
        thresholds = Thresholds(anomaly_p=0.0, near_miss_p=0.0)
        chunk = 2000
        for start in range(0, missing, chunk):
            items = []
            for i in range(start, min(missing, start + chunk)):
                v = vectors[i % len(vectors)] + rng.normal(0, 0.01, vectors.shape[1])
                v = (v / np.linalg.norm(v)).astype(np.float32)
                image = DecodedImage(
                    provenance=Provenance("synthetic", f"synthetic://{seed}/{i}"),
                    pixels=pixels,
                    content_hash=f"synthetic-{seed}-{i:08d}",
                    perceptual_hash=f"{int(rng.integers(0, 2**63)):016x}",
                    group=group,
                )
                result = ScoreResult(
                    score=0.0, p_value=0.5, verdict=Verdict.NORMAL, detector_scores={},
                    calibration_version=0, thresholds=thresholds,  # judged before any stored one
                )  # fmt: skip
                items.append(NewImage(image, None, None, Embedding(model_id, v), model_id, result))
            repo.add_scored_images(items)
        return missing
    finally:
        repo.close()


def refit_like_the_agent(home: Path) -> float:
    """The scheduled refit a running agent does after every `refit_every` new normals (on
    the newest `reference_limit` of them), through the product's own scoring bank, which
    saves it: the grown store then looks like one the agent has been feeding all along."""
    from astrolens.app.context import AppOptions, AstroLensApp
    from astrolens.domain.images import ImageGroup
    from astrolens.settings.paths import app_paths

    app = AstroLensApp(paths=app_paths(home), options=AppOptions(crossmatch=False))
    try:
        pipeline = app.pipeline([])
        started = time.perf_counter()

        async def refit() -> None:
            for group in ImageGroup:
                await pipeline.scoring.ensure_fitted(group, force=True)

        asyncio.run(refit())
        return time.perf_counter() - started
    finally:
        app.close()


def _model_id(repo: object) -> str:
    from astrolens.store.database import execute

    row = execute(repo._db, "SELECT model_id FROM embeddings LIMIT 1").fetchone()  # type: ignore[attr-defined]
    return str(row[0])


def batch_into_stores(bench: Path, sizes: list[int], batch: int, work: Path) -> Path:
    files = image_files(bench)
    step = len(files) / batch
    held = [files[int(i * step)] for i in range(batch)]
    rest = sorted(set(files) - set(held))
    batch_dir = link_folder(held, bench, work / "batch")
    rest_dir = link_folder(rest, bench, work / "rest")
    base_home = work / "home-base"
    first = run_child(scan_cmd(base_home, rest_dir))
    print(f"\n## A batch of {batch} new images into a grown store (load average {load_avg()})\n")
    print(f"(the base store: {len(rest)} bench images scanned in {first.wall_s:.1f} s)\n")
    print(
        "| store images | grow s | refit s | batch wall s | images/s | CPU s | peak RSS MB "
        "| vs smallest |"
    )
    print("|---|---|---|---|---|---|---|---|")
    first_wall: float | None = None
    for size in sizes:
        home = work / f"home-{size}"
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(base_home, home, symlinks=True)
        started = time.perf_counter()
        grow_store(home, size)
        grown = time.perf_counter() - started
        refit = refit_like_the_agent(home)
        run = run_child(scan_cmd(home, batch_dir))
        first_wall = first_wall or run.wall_s
        print(
            f"| {size} | {grown:.0f} | {refit:.1f} | {run.wall_s:.1f} | {batch / run.wall_s:.1f} | "
            f"{run.cpu_s:.1f} | {run.peak_mb:.0f} | {run.wall_s / first_wall:.2f} |",
            flush=True,
        )
        shutil.rmtree(home, ignore_errors=True)
    return batch_dir


# ----------------------------------------------------------------------- 3. idle agent


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def agent_child(home: Path, folder: Path) -> None:
    """Child mode: the real agent scans `folder`, then idles; print its RSS."""
    from astrolens.app.agent import AgentRuntime
    from astrolens.app.context import AppOptions, AstroLensApp
    from astrolens.settings.paths import app_paths

    app = AstroLensApp(paths=app_paths(home), options=AppOptions(offline_catalogs=True))
    agent = AgentRuntime(app)

    async def main() -> None:
        agent.scan_folder(folder)
        await asyncio.gather(*agent._scans)
        await agent.stats()  # what the tray asks for when it refreshes
        gc.collect()
        await asyncio.sleep(1.0)

    asyncio.run(main())
    print(f"idle_rss_mb={_proc_status_mb('VmRSS'):.0f} peak_mb={_proc_status_mb('VmHWM'):.0f}")
    app.close()


def idle_agent(batch_dir: Path, work: Path) -> None:
    script = [sys.executable, str(Path(__file__).resolve()), "--agent-child"]
    run = run_child([*script, str(work / "home-agent"), str(batch_dir)])
    line = next(ln for ln in run.output.splitlines() if ln.startswith("idle_rss_mb="))
    print(f"\n## Idle agent after scanning the batch (load average {load_avg()})\n")
    print(f"{line}  (wall {run.wall_s:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "data" / "bench")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stores", default="1000,10000,100000")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-stores", action="store_true")
    parser.add_argument("--limit", type=int, help="only the first N bench images (smoke run)")
    parser.add_argument(
        "--compare", type=Path, help="also scan with the astrolens of this checkout (before)"
    )
    parser.add_argument("--agent-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.agent_child:
        agent_child(*args.agent_child)
        return
    global LIMIT
    LIMIT = args.limit
    bench = args.bench.resolve()
    with tempfile.TemporaryDirectory(prefix="astrolens-scan-speed-") as tmp:
        work = Path(tmp)
        if not args.skip_full:
            full_scan(bench, args.repeats, work, args.compare)
        batch_dir = link_folder(
            image_files(bench)[:: max(1, len(image_files(bench)) // args.batch)][: args.batch],
            bench,
            work / "agent-batch",
        )
        if not args.skip_stores:
            sizes = [int(s) for s in args.stores.split(",") if s]
            batch_dir = batch_into_stores(bench, sizes, args.batch, work)
        idle_agent(batch_dir, work)


if __name__ == "__main__":
    main()
