"""Issue 16, item 6: a full disk ends a scan with exit 5 and one clear line; read-only
commands keep working on the full disk; after space is freed a rerun loses nothing.

The home lives on a tiny tmpfs mounted in a private mount namespace (`unshare -m`), the one
way to get a real ENOSPC/SQLITE_FULL without touching the machine's disks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import copy_into

SCRIPT = """
set -u
mount -t tmpfs -o size={size} tmpfs "$HOME_DIR" || exit 99
run() {{ "$PY" -m astrolens.app.cli --home "$HOME_DIR" "$@"; echo "rc=$?" >&2; }}
run scan --no-crossmatch "$IN" >/dev/null
run candidates
run quarantine
mount -o remount,size=200m "$HOME_DIR"
run scan --no-crossmatch "$IN" >/dev/null
"$PY" - <<'PY' >&2
import os, sqlite3
conn = sqlite3.connect(os.path.join(os.environ["HOME_DIR"], "data", "astrolens.sqlite3"))
print("integrity=" + conn.execute("PRAGMA integrity_check").fetchone()[0])
files = "SELECT count(DISTINCT coalesce(parent_uri, uri)) FROM images"
print("files=" + str(conn.execute(files).fetchone()[0]))
print("unfinished=" + str(conn.execute("SELECT count(*) FROM unfinished_files").fetchone()[0]))
PY
"""


def _can_mount() -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs unshare -m and tmpfs mounts (root)")
def test_full_disk_exits_5_and_read_only_commands_still_work(
    tmp_path: Path, shared_data: Path
) -> None:
    size = "500k"
    demo = shared_data / "demo"
    files = (sorted(demo.glob("*.jpg")) + sorted(demo.glob("*.png")))[::3]
    folder = copy_into(tmp_path / "in", *files)
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME_DIR": str(home), "IN": str(folder), "PY": sys.executable}
    import os

    done = subprocess.run(
        ["unshare", "-m", "bash", "-c", SCRIPT.format(size=size)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    err = done.stderr
    codes = [line for line in err.splitlines() if line.startswith("rc=")]
    assert codes[:3] == ["rc=5", "rc=0", "rc=0"], err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "full" in err.split("rc=5")[0].splitlines()[-1]
    # Read-only commands printed their tables (not nothing).
    assert "quarantined" in done.stdout.lower() or "Quarantined" in done.stdout
    # Space freed: the rerun stores every file, the database is intact.
    assert codes[3] == "rc=0", err[-3000:]
    assert "integrity=ok" in err and f"files={len(files)}" in err, err[-1500:]
    assert "unfinished=0" in err


def test_a_full_database_is_storage_full_and_reads_still_work(tmp_path: Path) -> None:
    """SQLITE_FULL (here from max_page_count, the same error a full disk gives) becomes
    StorageFullError (exit 5), the failed write leaves nothing behind, and reads work."""
    from astrolens.domain.errors import StorageFullError
    from astrolens.store.database import execute
    from astrolens.store.repository import SqliteRepository
    from tests.store.builders import decoded

    repo = SqliteRepository(tmp_path / "astrolens.sqlite3")
    pages = execute(repo._db, "PRAGMA page_count").fetchone()[0]
    execute(repo._db, f"PRAGMA max_page_count = {pages + 2}")
    stored = 0
    with pytest.raises(StorageFullError, match="full"):
        for i in range(10_000):
            repo.add_image(decoded(i), None, None)
            stored += 1
    assert repo.count_images() == stored
    assert repo.quarantined() == [] and repo.integrity_check() == "ok"
    repo.close()  # the WAL checkpoint on a full disk does not raise
