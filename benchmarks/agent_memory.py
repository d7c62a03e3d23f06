"""Where the idle agent's resident memory goes after one scan.

Runs the real agent's pieces in a fresh process, step by step, and prints the RSS after each
(the first row is the baseline measured in the same run: an interpreter with nothing
imported), then the largest Python-level allocations (tracemalloc) still held after the scan.

    python benchmarks/agent_memory.py [--images 40] [--folder PATH]

RSS counts native libraries (ONNX Runtime, torch, Qt, FAISS) that tracemalloc cannot see,
which is why both are shown: the difference between them is what the libraries hold.

Measured on a 2-core machine shared with other jobs, `--images 200 --no-trace`: 340 MB after
the scan with ONNX Runtime's CPU arena on (the session is released after each cycle, which
gives the arena back) vs 367 MB with it off, same run. (Before the release existed the arena
kept 787 MB against 354.) What is left: ~80 MB interpreter,
Qt and astrolens; ~160 MB scipy + scikit-learn + astropy (imports alone, half of it library
pages); ~75 MB the ONNX session; ~35 MB the scan's heap. Below ~250 MB would need the scorer
without scikit-learn/scipy (PCA, Ledoit-Wolf, k-means in numpy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import asyncio, csv, gc, json, os, shutil, sys, tempfile, tracemalloc
from pathlib import Path

def rss_mb():
    got = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "RssAnon:", "RssFile:")):
            got[line.split(":")[0]] = int(line.split()[1]) / 1024
    return [got.get("VmRSS", 0.0), got.get("RssAnon", 0.0), got.get("RssFile", 0.0)]

rows = [("python, nothing imported", rss_mb())]
args = json.loads(sys.argv[1])
if args["trace"]:
    tracemalloc.start(10)  # its own bookkeeping inflates RSS: a separate run
os.environ["ASTROLENS_HOME"] = tempfile.mkdtemp(prefix="astrolens-mem-")
from PyQt6.QtWidgets import QApplication
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
qapp = QApplication([])
rows.append(("+ PyQt6 + QApplication", rss_mb()))
from astrolens.app.agent import create_agent_controller
from astrolens.app.context import AppOptions, AstroLensApp
rows.append(("+ astrolens.app.agent", rss_mb()))
app = AstroLensApp(options=AppOptions(crossmatch=False))
runtime = create_agent_controller(app, start=False)
app.embedder.embed  # built, not loaded yet
rows.append(("+ AstroLensApp, embedder object", rss_mb()))
import importlib
for m in ("scipy.stats", "sklearn.covariance", "sklearn.decomposition", "sklearn.cluster",
          "astropy.io.fits", "astropy.wcs"):
    importlib.import_module(m)  # what the scan would load: the scorer's and decoder's libs
rows.append(("+ scipy, sklearn, astropy (scoring)", rss_mb()))
import numpy as np
app.embedder.embed([np.zeros((64, 64, 3), np.float32)])
rows.append(("+ ONNX session, one image", rss_mb()))
folder = Path(tempfile.mkdtemp(prefix="astrolens-mem-scan-"))
bench = Path(args["shared"]) / "bench"
with (bench / "manifest.csv").open() as fh:
    picked = [r for r in csv.DictReader(fh) if r["track"] == "hsc"][: args["images"]]
for r in picked:
    shutil.copy(bench / r["path"], folder)

async def scan():
    done = asyncio.Event()
    runtime.subscribe(lambda e: done.set() if type(e).__name__ == "ScanFinished" else None)
    runtime.scan_folder(Path(args["folder"]) if args["folder"] else folder)
    await done.wait()
    await asyncio.sleep(0.5)
    rows.append(("after one scan", rss_mb()))

    heavy = sorted(m for m in ("torch", "onnxruntime", "faiss", "sklearn", "astroquery",
                               "astropy", "scipy", "timm", "open_clip", "PIL", "cv2")
                   if m in sys.modules)
    gc.collect()
    top, traced = [], 0.0
    if args["trace"]:
        stats = tracemalloc.take_snapshot().statistics("filename")
        top = [(str(s.traceback[0].filename).split("site-packages/")[-1], s.size / 2**20)
               for s in stats[:12]]
        traced = sum(s.size for s in stats) / 2**20
    await runtime.shutdown()
    return heavy, top, traced

heavy, top, traced = asyncio.run(scan())
print(json.dumps({"rows": rows, "heavy": heavy, "top": top, "traced_mb": traced}))
"""


def _child(args: dict[str, object]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        cwd=REPO,
        env={
            "PYTHONPATH": str(REPO),
            "PATH": "/usr/bin:/bin",
            "HF_HUB_OFFLINE": "1",
            "ASTROLENS_ONNX_ARENA": "0" if args.get("no_arena") else "1",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--folder", default="")
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    args = ap.parse_args()
    # The comparison, in the same run: ONNX Runtime's CPU arena off (the default until the
    # pipeline released the session after each cycle).
    before = _child({**vars(args), "trace": False, "no_arena": True})
    got = _child({**vars(args), "trace": False})
    traced = (
        {"traced_mb": 0.0, "top": []} if args.no_trace else _child({**vars(args), "trace": True})
    )
    base = got["rows"][0][1][0]
    print(f"{'step':34} {'RSS MB':>7} {'x baseline':>10} {'+ MB':>6} {'anon MB':>8} {'file MB':>8}")
    prev = base
    for name, (mb, anon, file) in got["rows"]:
        print(f"{name:34} {mb:7.0f} {mb / base:10.1f} {mb - prev:6.0f} {anon:8.0f} {file:8.0f}")
        prev = mb
    print("(file: pages of loaded libraries, shared and reclaimable; anon: the heap)")
    old, new = before["rows"][-1][1][0], got["rows"][-1][1][0]
    print(
        f"\nafter one scan: {new:.0f} MB (ONNX CPU arena on, released after the cycle) vs "
        f"{old:.0f} MB with the arena off (same run): ratio {new / old:.2f}"
    )
    print(f"\nheavy modules loaded after the scan: {', '.join(got['heavy'])}")
    print(f"Python-level allocations still held (tracemalloc): {traced['traced_mb']:.0f} MB")
    for name, mb in traced["top"]:
        print(f"  {mb:7.1f} MB  {name}")


if __name__ == "__main__":
    main()
