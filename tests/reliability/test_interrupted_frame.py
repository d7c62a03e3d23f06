"""Issue 16, item 1: kill -9 while a frame's stamps are being stored; the rerun must finish
the frame (a file is done only when all its stamps are)."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrolens.domain.images import Provenance, RawImage
from astrolens.imaging.decoder import ImageDecoder
from tests.reliability.conftest import copy_into
from tests.reliability.harness import count, run_cli, start_and_kill_when, store_shape

SCAN = ["scan", "--no-crossmatch"]
STAMPS = "SELECT count(*) FROM images WHERE parent_uri IS NOT NULL"


def test_frame_killed_mid_stamps_is_finished_by_the_rerun(tmp_path: Path, horsehead: Path) -> None:
    folder = copy_into(tmp_path / "in", horsehead)
    path = folder / horsehead.name
    # What an uninterrupted scan stores: the frame and every stamp the decoder cuts.
    raw = RawImage(Provenance("folder", path.as_uri()), path.name, path.read_bytes())
    expected_uris = tuple(sorted(d.provenance.uri for d in ImageDecoder().decode(raw)))
    assert len(expected_uris) > 30, "HorseHead gives a frame and dozens of stamps"

    home = tmp_path / "home"
    killed = start_and_kill_when(
        home, [*SCAN, str(folder)], lambda: 0 < count(home, STAMPS) < len(expected_uris) - 2
    )
    if not killed:
        pytest.skip("the scan finished before a stamp was stored; no kill point this time")
    partial = count(home, "SELECT count(*) FROM images")
    assert partial < len(expected_uris)

    rerun = run_cli(home, *SCAN, str(folder))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = store_shape(home)
    assert after.uris == expected_uris, f"{after.images} of {len(expected_uris)} after the rerun"
    assert after.duplicate_hashes == 0 and after.integrity == "ok"
    assert after.orphan_blobs == () and after.temp_files == ()
    assert after.unfinished == 0
    # The frame's own re-read is not a sighting of itself.
    assert count(home, "SELECT count(*) FROM sightings") == 0
