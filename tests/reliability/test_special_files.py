"""Issue 16, items 2 and 3: a symlink loop, a FIFO and a device behind a symlink never abort,
hang or flood the scan; the good file next to them is stored, every time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.conftest import copy_into
from tests.reliability.harness import query, run_cli


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs and /dev/zero")
def test_loop_fifo_and_device_are_quarantined_and_the_good_file_stored(
    tmp_path: Path, demo_jpegs: list[Path]
) -> None:
    folder = copy_into(tmp_path / "in", demo_jpegs[0])
    (folder / "loop.jpg").symlink_to("loop.jpg")
    os.mkfifo(folder / "pipe.jpg")
    (folder / "zero.fits").symlink_to("/dev/zero")
    (folder / "dangling.png").symlink_to("nowhere.png")
    home = tmp_path / "home"

    for attempt in ("first", "rerun"):
        # A hang or a 6 GB read would blow through the timeout (or the machine).
        result = run_cli(home, "scan", "--no-crossmatch", str(folder), timeout=120)
        assert result.returncode == 0, f"{attempt}: {result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, attempt

    stored = [str(r[0]) for r in query(home, "SELECT uri FROM images")]
    assert stored == [(folder / demo_jpegs[0].name).as_uri()]
    reasons = {
        Path(str(u)).name: str(r) for u, r in query(home, "SELECT uri, reason FROM quarantine")
    }
    assert "symbolic link loop" in reasons["loop.jpg"]
    assert "named pipe" in reasons["pipe.jpg"]
    assert "device" in reasons["zero.fits"]
    assert "broken symbolic link" in reasons["dangling.png"]


def test_bytes_are_capped_while_reading_not_only_by_the_size_stat(tmp_path: Path) -> None:
    from astrolens.domain.errors import UnreadableImageError
    from astrolens.sources.folder import read_regular_file

    big = tmp_path / "big.fits"
    big.write_bytes(b"\0" * 5000)
    with pytest.raises(UnreadableImageError, match="larger than the 4,096"):
        read_regular_file(big, 4096)
    assert read_regular_file(big, 5000) == b"\0" * 5000
    with pytest.raises(UnreadableImageError, match="device"):
        read_regular_file(Path("/dev/zero"), 4096)
