"""Issue 16, item 9: one writer per home (an OS lock for the process's life, naming the
holder), read-only commands beside it, and SIMBAD's limit across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.reliability.conftest import copy_into
from tests.reliability.harness import cli, count, env, run_cli

HOLD = """
import sys, time
from pathlib import Path
from astrolens.app.home_lock import acquire_home_lock
acquire_home_lock(Path(sys.argv[1]), "holder under test", tray=sys.argv[2] == "tray")
print("locked", flush=True)
time.sleep(120)
"""


def hold_lock(data_dir: Path, kind: str = "cli") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir), kind], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_scan_on_one_home_is_refused_naming_the_first(
    tmp_path: Path, demo_jpegs: list[Path]
) -> None:
    folder = copy_into(tmp_path / "in", *demo_jpegs[:6])
    home = tmp_path / "home"
    first = subprocess.Popen(
        cli(home, "scan", "--no-crossmatch", str(folder)),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = home / "data" / "astrolens.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text()):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)

    second = run_cli(home, "scan", "--no-crossmatch", str(folder), timeout=60)
    assert second.returncode == 7, second.stderr
    assert f"pid {first.pid}" in second.stderr and "in use by another" in second.stderr
    assert "Traceback" not in second.stderr
    # Read-only commands keep working beside the writer.
    listing = run_cli(home, "quarantine", timeout=60)
    assert listing.returncode == 0, listing.stderr

    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    assert count(home, "SELECT count(*) FROM images") == 6
    assert count(home, "SELECT count(*) FROM sightings") == 0


def test_the_lock_dies_with_its_holder_even_on_kill_9(tmp_path: Path) -> None:
    home = tmp_path / "home"
    holder = hold_lock(home / "data")
    refused = run_cli(home, "label", "1", "tp", timeout=60)
    assert refused.returncode == 7 and f"pid {holder.pid}" in refused.stderr
    holder.kill()
    holder.wait()
    after = run_cli(home, "label", "1", "tp", timeout=60)
    assert after.returncode != 7, after.stderr  # no stale lock (no candidate 1: exit 2)


def test_a_second_tray_does_not_run_beside_the_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    holder = hold_lock(home / "data", "tray")  # a tray that never answers "show"
    try:
        second = subprocess.run(
            cli(home),
            env={**env(), "QT_QPA_PLATFORM": "offscreen"},
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 7, second.stderr[-2000:]
    assert f"pid {holder.pid}" in second.stderr


BURST = """
import json, sys, time
from astrolens.catalogs.rate import DEFAULT_POLICIES, ServiceGate
gate = ServiceGate.for_service("simbad", DEFAULT_POLICIES["simbad"])
starts = []
for _ in range(int(sys.argv[1])):
    with gate.slot():
        starts.append(time.time())
print(json.dumps(starts))
"""


def test_simbad_limit_holds_across_processes(tmp_path: Path) -> None:
    rate_env = {**os.environ, "TMPDIR": str(tmp_path)}  # a private shared-window folder
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BURST, "12"], env=rate_env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    starts = sorted(t for p in procs for t in json.loads(p.communicate(timeout=120)[0]))
    assert len(starts) == 24
    busiest = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
    assert busiest <= 5, f"{busiest} SIMBAD requests within one second from two processes"
