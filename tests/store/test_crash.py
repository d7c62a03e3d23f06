"""A writer killed with SIGKILL mid-run leaves a consistent database and no half files."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from astrolens.domain.scoring import Verdict
from astrolens.store.blobs import FileBlobStore
from astrolens.store.repository import SqliteRepository
from tests.store.builders import MODEL, decoded, embedding, original_bytes, result
from tests.store.crash_writer import ORIGINAL_SIZE

REPO_ROOT = Path(__file__).resolve().parents[2]
TOTAL = 10_000  # far more than it can write before the kill


def _kill_writer_mid_run(db_path: Path, blob_root: Path, after: int, extra_s: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.store.crash_writer",
            str(db_path),
            str(blob_root),
            str(TOTAL),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for _ in range(after):
            if not proc.stdout.readline():
                pytest.fail(f"writer died early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(extra_s)  # land somewhere inside the next writes
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("extra_s", [0.0, 0.013, 0.037])
def test_sigkill_mid_run_leaves_a_consistent_store(tmp_path: Path, extra_s: float) -> None:
    db_path = tmp_path / "astrolens.sqlite3"
    blob_root = tmp_path / "blobs"
    _kill_writer_mid_run(db_path, blob_root, after=15, extra_s=extra_s)

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    repo = SqliteRepository(db_path)
    try:
        assert repo.integrity_check() == "ok"
        stored = repo.count_images()
        assert stored >= 15
        rows = repo._db.execute_sql(
            "SELECT i.id, i.content_hash, i.image_path, i.thumbnail_path,"
            " (SELECT COUNT(*) FROM embeddings e WHERE e.image_id = i.id),"
            " (SELECT COUNT(*) FROM scores s WHERE s.image_id = i.id) FROM images i"
        ).fetchall()
        for _image_id, content_hash, image_path, thumb_path, n_vectors, n_scores in rows:
            # every row has its files, complete: the content hash is of the original bytes
            assert hashlib.sha256(Path(image_path).read_bytes()).hexdigest() == content_hash
            thumb = Path(thumb_path)
            assert hashlib.sha256(thumb.read_bytes()).hexdigest() == thumb.stem
            assert (n_vectors, n_scores) == (1, 1)  # the transaction was all or nothing

        FileBlobStore(blob_root).sweep()
        assert [p for p in blob_root.rglob("*") if p.name.endswith(".tmp")] == []

        # the pipeline starts again from the beginning: same content, no duplicates
        blobs = FileBlobStore(blob_root)
        for seed in range(stored + 3):
            data = original_bytes(seed, ORIGINAL_SIZE)
            image = decoded(seed, original=data, shape=(64, 64))
            paths = blobs.put_image(image, data)
            repo.add_scored_image(
                image, *paths, embedding(seed), MODEL, result(Verdict.NORMAL, float(seed))
            )
        assert repo.count_images() == stored + 3
        dupes = repo._db.execute_sql(
            "SELECT COUNT(*) FROM (SELECT content_hash FROM images"
            " GROUP BY content_hash HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0
        assert repo.integrity_check() == "ok"
    finally:
        repo.close()
