"""Drive the real CLI in a subprocess, kill it, and describe what its store holds.

A store's "shape" is what must be identical after any number of kill -9s and reruns and after
one uninterrupted scan: the stored URIs, no duplicate content, integrity ok, no orphan blob
and no half-written temp file.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "astrolens.app.cli", "--home", str(home), *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(home, *args), env=env(), capture_output=True, text=True, timeout=timeout
    )


def db_path(home: Path) -> Path:
    return home / "data" / "astrolens.sqlite3"


def query(home: Path, sql: str) -> list[tuple[object, ...]]:
    """Read-only, and 'nothing yet' while the database is being created."""
    path = db_path(home)
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
            return list(conn.execute(sql).fetchall())
    except sqlite3.OperationalError:
        return []


def count(home: Path, sql: str) -> int:
    rows = query(home, sql)
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def start_and_kill_when(
    home: Path,
    args: list[str],
    condition: Callable[[], bool],
    *,
    timeout: float = 120,
    poll_s: float = 0.02,
) -> bool:
    """Start the CLI, SIGKILL it once `condition()` holds. False when it finished first."""
    proc = subprocess.Popen(
        cli(home, *args), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if condition():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"{args} neither finished nor met the kill condition")
            time.sleep(poll_s)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kill_after(home: Path, args: list[str], seconds: float, timeout: float = 120) -> bool:
    """SIGKILL after `seconds` (a random point in whatever the scan is doing then)."""
    started = time.monotonic()
    return start_and_kill_when(
        home, args, lambda: time.monotonic() - started >= seconds, timeout=timeout
    )


@dataclass(frozen=True)
class StoreShape:
    uris: tuple[str, ...]
    duplicate_hashes: int
    integrity: str
    orphan_blobs: tuple[str, ...]
    temp_files: tuple[str, ...]
    unscored: int
    unfinished: int

    @property
    def images(self) -> int:
        return len(self.uris)


def store_shape(home: Path) -> StoreShape:
    path = db_path(home)
    with sqlite3.connect(path) as conn:
        integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        rows = conn.execute("SELECT uri, content_hash, image_path, thumbnail_path FROM images")
        images = rows.fetchall()
        unscored = int(
            conn.execute(
                "SELECT count(*) FROM images WHERE id NOT IN (SELECT image_id FROM scores)"
            ).fetchone()[0]
        )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        unfinished = (
            int(conn.execute("SELECT count(*) FROM unfinished_files").fetchone()[0])
            if "unfinished_files" in tables
            else 0
        )
    referenced = {str(Path(p).resolve()) for _, _, ip, tp in images for p in (ip, tp) if p}
    blobs_root = home / "data"
    files = [
        p for sub in ("images", "thumbs") for p in (blobs_root / sub).rglob("*") if p.is_file()
    ]
    orphans = tuple(
        sorted(str(p) for p in files if str(p.resolve()) not in referenced and ".tmp" not in p.name)
    )
    temps = tuple(sorted(str(p) for p in blobs_root.rglob("*") if p.name.endswith(".tmp")))
    hashes = [h for _, h, _, _ in images]
    return StoreShape(
        uris=tuple(sorted(str(u) for u, _, _, _ in images)),
        duplicate_hashes=len(hashes) - len(set(hashes)),
        integrity=integrity,
        orphan_blobs=orphans,
        temp_files=temps,
        unscored=unscored,
        unfinished=unfinished,
    )
