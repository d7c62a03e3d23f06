"""Frames decode in worker processes with the same result; stamps never leave the thread."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.errors import UnreadableImageError
from astrolens.imaging import ImageDecoder
from astrolens.imaging.process_pool import PooledDecoder
from tests.imaging.helpers import raw_bytes, raw_from


@pytest.fixture
def pooled() -> Iterator[PooledDecoder]:
    decoder = PooledDecoder(ImageDecoder(), workers=1, min_bytes=256 * 1024)
    yield decoder
    decoder.close()


def test_a_frame_decoded_in_a_worker_equals_one_decoded_in_process(
    pooled: PooledDecoder, decoder: ImageDecoder, shared_data: Path
) -> None:
    raw = raw_from(shared_data / "fits" / "HorseHead.fits")  # 1.6 MB: a frame
    here = decoder.decode(raw)
    there = pooled.decode(raw)
    assert pooled.pooled_files == 1
    assert len(there) == len(here) > 20  # the preview and its stamps
    for a, b in zip(here, there, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)
        assert (a.content_hash, a.perceptual_hash, a.group) == (
            b.content_hash,
            b.perceptual_hash,
            b.group,
        )
        assert a.provenance == b.provenance and a.stamp_xy == b.stamp_xy


def test_a_stamp_decodes_on_the_calling_thread_and_starts_no_process(
    pooled: PooledDecoder, shared_data: Path
) -> None:
    stamp = next((shared_data / "demo").glob("*.jpg"))
    assert stamp.stat().st_size < pooled.min_bytes
    assert len(pooled.decode(raw_from(stamp))) == 1
    assert pooled.pooled_files == 0 and pooled._pool is None


def test_an_unreadable_large_file_raises_the_same_error_through_the_pool(
    pooled: PooledDecoder,
) -> None:
    junk = b"SIMPLE  =                    T" + os.urandom(400 * 1024)  # a FITS in name only
    with pytest.raises(UnreadableImageError):
        pooled.decode(raw_bytes(junk, "broken.fits"))
    assert pooled.pooled_files == 1


def test_a_killed_worker_is_reported_and_the_frame_still_decodes(
    pooled: PooledDecoder, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = raw_from(shared_data / "fits" / "M51.fits")
    first = pooled.decode(raw)
    assert pooled._pool is not None
    for pid in list(pooled._pool._processes):  # the test kills a worker
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # let the pool notice
    again = pooled.decode(raw)
    assert len(again) == len(first)
    assert "decode worker died" in caplog.text
    assert len(pooled.decode(raw)) == len(first)  # and a new pool takes the next frame


def test_idle_workers_stop_and_start_again_on_the_next_frame(shared_data: Path) -> None:
    pooled = PooledDecoder(ImageDecoder(), workers=1, min_bytes=256 * 1024, idle_s=0.3)
    try:
        raw = raw_from(shared_data / "fits" / "M51.fits")
        pooled.decode(raw)
        deadline = time.monotonic() + 10
        while pooled._pool is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pooled._pool is None  # stopped after 0.3 s idle
        assert len(pooled.decode(raw)) > 1 and pooled.pooled_files == 2
    finally:
        pooled.close()
        pooled.close()  # idempotent


def test_no_workers_means_every_file_decodes_in_process(shared_data: Path) -> None:
    pooled = PooledDecoder(ImageDecoder(), workers=0)
    assert len(pooled.decode(raw_from(shared_data / "fits" / "M51.fits"))) > 1
    assert pooled.pooled_files == 0 and pooled._pool is None


def test_close_leaves_no_worker_process_and_no_pool_thread(shared_data: Path) -> None:
    """The desktop agent checks at quit that no non-daemon thread is left (the pool's
    manager thread is one): close() waits for them, bounded."""
    pooled = PooledDecoder(ImageDecoder(), workers=1, min_bytes=256 * 1024)
    pooled.decode(raw_from(shared_data / "fits" / "M51.fits"))
    pool = pooled._pool
    assert pool is not None
    workers = list(pool._processes.values())
    manager = pool._executor_manager_thread
    assert workers and manager is not None and manager.is_alive()
    started = time.monotonic()
    pooled.close()
    assert time.monotonic() - started < 5.5
    assert not manager.is_alive()
    assert not any(w.is_alive() for w in workers)


@pytest.mark.parametrize(("cores", "env", "workers"), [(2, "", 0), (8, "", 6), (2, "3", 3)])
def test_workers_default_to_the_cores_beyond_two_unless_set(
    monkeypatch: pytest.MonkeyPatch, cores: int, env: str, workers: int
) -> None:
    from astrolens.imaging import process_pool

    monkeypatch.setattr(process_pool.os, "cpu_count", lambda: cores)
    monkeypatch.setenv("ASTROLENS_DECODE_WORKERS", env)
    assert process_pool.default_workers() == workers
