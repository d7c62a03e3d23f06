"""The local API under load, and what it costs the agent's loop.

In one run, on one store (a real scan of ../shared/data/demo unless --home points at one):
  1. baseline: the loop's lag with nothing to do (a 10 ms ticker; lag = how late it wakes);
  2. 1,000 API requests (16 in flight, loopback, from another thread as a script would);
  3. the same 1,000 requests while a real folder scan runs in the same loop;
  4. the scan alone, for comparison.
Prints a table: requests/s, loop lag p50/p99/max, and each as a ratio to the baseline run.

    python benchmarks/api_load.py [--home DIR] [--requests 1000] [--scan-images 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"


class Ticker:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - start - 0.01)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> dict[str, float]:
        self._stop.set()
        assert self._task is not None
        await self._task
        lags = sorted(self.lags)
        return {
            "p50": statistics.median(lags) * 1000,
            "p99": lags[int(len(lags) * 0.99) - 1] * 1000,
            "max": lags[-1] * 1000,
        }


_HAMMER = """
import asyncio, json, sys, time
import httpx

url, token, paths, n = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])

async def go():
    sem = asyncio.Semaphore(16)
    codes = set()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        async def one(i):
            async with sem:
                codes.add((await client.get(paths[i % len(paths)])).status_code)
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        print(json.dumps({"seconds": time.perf_counter() - t0, "codes": sorted(codes)}))

asyncio.run(go())
"""


async def hammer(url: str, token: str, paths: list[str], n: int) -> tuple[float, set[int]]:
    """`n` GETs, 16 in flight, from another process (a script): its GIL is not ours."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HAMMER, url, token, json.dumps(paths), str(n),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    got = json.loads(out)
    return got["seconds"], set(got["codes"])


async def measure(home: Path, n: int, scan_images: int) -> list[tuple[str, dict[str, float]]]:
    from astrolens.app.agent import AgentRuntime
    from astrolens.app.api.server import start_api
    from astrolens.app.context import AppOptions, AstroLensApp
    from astrolens.domain.agent import CandidateQuery

    app = AstroLensApp(options=AppOptions(offline_catalogs=True, aggressive=True))
    runtime = AgentRuntime(app)
    server = await start_api(runtime, app.paths.config_dir, 0, app.executors.io)
    ids = [c.id for c in await runtime.candidates(CandidateQuery(limit=50))]
    paths = ["/health", "/candidates?limit=20"] + [f"/images/{i}" for i in ids]
    paths += [f"/images/{i}/thumbnail.png" for i in ids]
    rows: list[tuple[str, dict[str, float]]] = []

    def scan_folder(tag: str) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"api-bench-{tag}-"))
        bench = sorted((SHARED / "bench").rglob("*.png"))
        chosen = bench[len(rows) * scan_images : (len(rows) + 1) * scan_images]  # new each time
        for i, src in enumerate(chosen):
            (folder / f"{i:03d}{src.suffix}").symlink_to(src)
        return folder

    async def wait_scans() -> None:
        await asyncio.gather(*runtime._scans, return_exceptions=True)

    try:
        t = Ticker()
        t.start()
        await asyncio.sleep(3)
        rows.append(("idle loop (baseline)", await t.stop()))

        t = Ticker()
        t.start()
        secs, codes = await hammer(server.url, server.token, paths, n)
        rows.append(
            ("API load", {**await t.stop(), "req_s": n / secs, "ok": float(codes == {200})})
        )

        t = Ticker()
        t.start()
        runtime.scan_folder(scan_folder("a"))
        await asyncio.sleep(0.5)
        secs, codes = await hammer(server.url, server.token, paths, n)
        rows.append(
            ("API load + scan", {**await t.stop(), "req_s": n / secs, "ok": float(codes == {200})})
        )
        await wait_scans()

        t = Ticker()
        t.start()
        runtime.scan_folder(scan_folder("b"))
        await asyncio.sleep(0.5)
        await wait_scans()
        rows.append(("scan alone", await t.stop()))
    finally:
        await server.stop()
        await runtime.shutdown()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="an AstroLens home with a scanned archive")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--scan-images", type=int, default=40)
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="api-bench-home-"))
    os.environ["ASTROLENS_HOME"] = str(home)
    if args.home is None:
        from astrolens.app.cli import main as cli

        assert cli(["scan", str(SHARED / "demo"), "--offline", "--aggressive", "--top", "1"]) == 0
    rows = asyncio.run(measure(home, args.requests, args.scan_images))
    base = rows[0][1]
    print(
        f"\n{'run':24} {'req/s':>7} {'lag p50':>8} {'p99':>7} {'max':>7}  ratio p99/max to baseline"
    )
    for name, r in rows:
        req = f"{r['req_s']:7.0f}" if "req_s" in r else "      -"
        print(
            f"{name:24} {req} {r['p50']:6.1f}ms {r['p99']:5.1f}ms {r['max']:5.1f}ms"
            f"  x{r['p99'] / max(base['p99'], 0.01):.1f} / x{r['max'] / max(base['max'], 0.01):.1f}"
            + ("" if r.get("ok", 1.0) else "  (some requests failed)")
        )


if __name__ == "__main__":
    main()
