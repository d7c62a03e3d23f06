"""kill -9 in the middle of a scan, then a rerun: it resumes, with no duplicate and no
half-written file."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.app.test_cli import _bench


def _count_images(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM images").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


def test_kill_9_mid_scan_then_rerun_resumes_cleanly(tmp_path: Path, isolated_home: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    files = _bench("hsc", "reference", "galaxy")[:120]
    for path in files:
        shutil.copy(path, folder / path.name)
    db = isolated_home / "data" / "astrolens.sqlite3"
    cmd = [sys.executable, "-m", "astrolens.app.cli", "scan", str(folder), "--no-crossmatch"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _count_images(db) < 20:
        if proc.poll() is not None:
            pytest.fail(f"scan ended before the kill: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("scan stored nothing in time")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _count_images(db)
    assert 20 <= killed_at < len(files), "the kill must land mid-scan"

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT uri, content_hash, image_path FROM images").fetchall()
        unscored = conn.execute(
            "SELECT count(*) FROM images WHERE id NOT IN (SELECT image_id FROM scores)"
        ).fetchone()[0]
    # Every file exactly once, every one scored.
    assert sorted(uri for uri, _, _ in rows) == sorted((folder / p.name).as_uri() for p in files)
    assert len({h for _, h, _ in rows}) == len(rows)
    assert unscored == 0
    # No half-written file: each stored original hashes to its content hash.
    for _, content_hash, image_path in rows:
        assert hashlib.sha256(Path(image_path).read_bytes()).hexdigest() == content_hash
    leftovers = [p for p in (isolated_home / "data").rglob("*") if ".tmp" in p.name]
    assert leftovers == []
