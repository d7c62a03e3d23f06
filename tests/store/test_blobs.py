"""Content-addressed files: exact bytes, atomic writes, a full disk, leftovers after a crash."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from astrolens.domain.display import to_uint8
from astrolens.domain.errors import StorageFullError
from astrolens.store.blobs import FileBlobStore, as_png, sniff_extension, thumbnail_jpeg
from tests.store.builders import decoded, original_bytes


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_original_bytes_kept_at_content_address(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    data = original_bytes(1)
    image_path, thumb_path = store.put_image(decoded(1), data)
    digest = hashlib.sha256(data).hexdigest()
    assert Path(image_path) == tmp_path / "blobs" / "images" / digest[:2] / digest[2:4] / (
        f"{digest}.fits"
    )
    assert Path(image_path).read_bytes() == data
    thumb = Path(thumb_path)
    assert hashlib.sha256(thumb.read_bytes()).hexdigest() == thumb.stem
    assert thumb.suffix == ".jpg"


def test_writing_twice_is_a_no_op(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    first = store.put_image(decoded(1), original_bytes(1))
    mtimes = [os.stat(p).st_mtime_ns for p in first]
    second = store.put_image(decoded(1), original_bytes(1))
    assert first == second
    assert [os.stat(p).st_mtime_ns for p in second] == mtimes
    assert len(_all_files(tmp_path)) == 2


def test_without_original_pixels_are_kept_losslessly(tmp_path: Path) -> None:
    image = decoded(2, shape=(20, 30, 3))
    image_path, _ = FileBlobStore(tmp_path).put_image(image, None)
    assert image_path.endswith(".npy")
    np.testing.assert_array_equal(np.load(image_path), image.pixels)


@pytest.mark.parametrize(
    ("shape", "mode", "size"),
    [((600, 300), "L", (128, 256)), ((100, 50, 3), "RGB", (50, 100)), ((40, 40, 1), "L", (40, 40))],
)
def test_thumbnail_is_8bit_and_at_most_256(shape: tuple[int, ...], mode: str, size: tuple) -> None:  # type: ignore[type-arg]
    pixels = np.random.default_rng(0).random(shape, dtype=np.float32)
    pixels[0, 0] = np.nan  # decoders may leave NaNs (masked FITS pixels)
    with Image.open(io.BytesIO(thumbnail_jpeg(pixels))) as thumb:
        assert thumb.format == "JPEG" and thumb.mode == mode and thumb.size == size


def test_a_thumbnail_keeps_the_picture_within_a_few_levels() -> None:
    # A smooth sky-like image (a Gaussian blob on a gradient): the JPEG preview must stay
    # within a few 8-bit levels of the exact reduction, or faint structure would be lost.
    yy, xx = np.mgrid[0:200, 0:200].astype(np.float32)
    pixels = 0.2 + 0.6 * np.exp(-((xx - 90) ** 2 + (yy - 110) ** 2) / 800) + xx / 2000
    exact = np.asarray(Image.fromarray(to_uint8(pixels)), np.float32)
    with Image.open(io.BytesIO(thumbnail_jpeg(pixels))) as thumb:
        got = np.asarray(thumb, np.float32)
    assert got.shape == exact.shape
    assert np.abs(got - exact).mean() < 1.5 and np.abs(got - exact).max() <= 8


def test_a_stored_thumbnail_is_served_as_png_whatever_its_format() -> None:
    pixels = np.random.default_rng(1).random((30, 40, 3), dtype=np.float32)
    as_served = as_png(thumbnail_jpeg(pixels))
    with Image.open(io.BytesIO(as_served)) as image:
        assert image.format == "PNG" and image.size == (40, 30)
    png = io.BytesIO()
    Image.fromarray(to_uint8(pixels)).save(png, format="PNG")
    assert as_png(png.getvalue()) == png.getvalue()  # an older PNG thumbnail as it is


def test_eight_bit_thumbnail_pixels_clip_round_and_clear_nan() -> None:
    edge = np.array([np.nan, np.inf, -np.inf, -0.2, 0.0, 0.5, 0.998, 1.0, 1.7], np.float32)
    assert to_uint8(edge).tolist() == [0, 255, 0, 0, 0, 128, 254, 255, 255]
    rng = np.random.default_rng(0)
    frame = rng.random((64, 48, 3), dtype=np.float32) * 1.4 - 0.2
    frame[::7, ::5] = np.nan
    frame[3, 3, 1] = np.inf
    expected = np.clip(np.nan_to_num(frame, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    assert np.array_equal(to_uint8(frame), (expected * 255.0 + 0.5).astype(np.uint8))


def test_sniff_extension() -> None:
    assert sniff_extension(b"\x89PNG\r\n\x1a\nrest") == "png"
    assert sniff_extension(b"\xff\xd8\xff\xe0") == "jpg"
    assert sniff_extension(b"SIMPLE  =      T") == "fits"
    assert sniff_extension(b"<html>") == "bin"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    store = FileBlobStore(tmp_path)
    real_write = os.write

    def write_then_fail(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data)[:100])  # part of the file reaches the disk first
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", write_then_fail)
    with pytest.raises(StorageFullError):
        store.put_image(decoded(1), original_bytes(1, size=100_000))
    assert _all_files(tmp_path) == []


def test_full_disk_when_creating_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileBlobStore(tmp_path)

    def no_space(*_: object, **__: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "open", no_space)
    with pytest.raises(StorageFullError):
        store.put_image(decoded(1), original_bytes(1))
    assert _all_files(tmp_path) == []


def test_other_io_errors_propagate_and_clean_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path)

    def broken_fsync(_: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError) as caught:
        store.put_image(decoded(1), original_bytes(1))
    assert not isinstance(caught.value, StorageFullError)
    assert _all_files(tmp_path) == []


def test_sweep_removes_stale_temp_files_only(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    kept = Path(store.put_image(decoded(1), original_bytes(1))[0])
    stale = kept.parent / f".astrolens-{kept.name}.dead.tmp"
    stale.write_bytes(b"half")
    assert store.sweep() == 1
    assert not stale.exists() and kept.exists()
    assert FileBlobStore(tmp_path / "never-used").sweep() == 0
