"""Atomic writes: the final path holds the old bytes or the new ones, never a part."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from astrolens.domain.errors import StorageFullError
from astrolens.fileio import atomic


def _names(where: Path) -> list[str]:
    return sorted(p.name for p in where.iterdir())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of its own (tmp_path also holds the test's isolated home)."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_writes_replace_the_old_file_and_leave_no_temp(folder: Path) -> None:
    target = folder / "state.json"
    target.write_bytes(b"old")
    atomic.write_text(target, "new ✓")
    assert target.read_text("utf-8") == "new ✓"
    assert _names(folder) == ["state.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # as tempfile's, unless asked
    atomic.write_bytes(target, b"x" * 3, mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_writer_that_fails_half_way_leaves_the_old_file(folder: Path) -> None:
    target = folder / "table.fits"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.replacing(target, suffix=".fits") as temp:
        assert temp.suffix == ".fits" and temp.parent == folder  # writers look at it
        temp.write_bytes(b"half a tab")
        raise RuntimeError("the writer crashed")
    assert target.read_bytes() == b"old"
    assert _names(folder) == ["table.fits"]


def test_a_process_killed_mid_write_leaves_no_partial_file(folder: Path) -> None:
    target = folder / "model.onnx"
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from astrolens.fileio import atomic

        with atomic.replacing(Path({str(target)!r}), suffix=".part") as temp:
            temp.write_bytes(b"x" * 1_000_000)
            os._exit(9)  # killed before the rename
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", script], env=env, check=False, timeout=60)
    assert done.returncode == 9
    assert not target.exists()
    (leftover,) = folder.iterdir()  # the temp file a sweep may remove; never the final name
    assert leftover.name.startswith(".model.onnx.") and leftover.suffix == ".part"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_storage_full_and_keeps_nothing(
    folder: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    target = folder / "blob.png"
    target.write_bytes(b"old")
    real_write = os.write

    def write_then_fail(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data)[:10])  # part of the file reaches the disk first
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", write_then_fail)
    with pytest.raises(StorageFullError, match="disk is full"):
        atomic.write_bytes(target, b"y" * 10_000)
    assert target.read_bytes() == b"old"
    assert _names(folder) == ["blob.png"]


def test_other_errors_propagate_unchanged(folder: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic.write_bytes(folder / "no-such-folder" / "x", b"1")


def test_fsync_dir_tolerates_a_folder_it_cannot_open(folder: Path) -> None:
    atomic.fsync_dir(folder / "missing")
    atomic.fsync_dir(folder)
