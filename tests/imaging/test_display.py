"""Stored files to display pixels: every kind the store keeps, and the stretches."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.display import DisplayLimits, DisplayStretch
from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.images import RawImage
from astrolens.imaging import ImageDecoder
from astrolens.imaging.display import DisplayRenderer, apply_stretch, display_limits
from astrolens.store.blobs import FileBlobStore, pixels_npy


def _varied(pixels: np.ndarray) -> bool:
    return pixels.size > 0 and int(pixels.max()) - int(pixels.min()) > 30


def test_stamps_cut_from_a_real_fits_frame_render(shared_data: Path, tmp_path: Path) -> None:
    """The .npy arrays the store keeps for stamps (207 of the demo's 239 candidates) render,
    both at full size and as thumbnails."""
    frame = shared_data / "demo" / "picture_or_fits__M51.fits"
    raw = RawImage(provenance=_provenance(frame), name=frame.name, data=frame.read_bytes())
    stamps = [im for im in ImageDecoder().decode(raw) if im.parent_uri is not None]
    assert stamps, "the frame gave no stamps"
    blobs = FileBlobStore(tmp_path)
    renderer = DisplayRenderer()
    for stamp in stamps[:5]:
        image_path, _thumb = blobs.put_image(stamp, None)
        assert image_path.endswith(".npy")
        shown = renderer.render(Path(image_path))
        assert shown.kind == "stamp cut from a frame"
        assert (shown.width, shown.height) == (stamp.width, stamp.height)
        assert _varied(shown.pixels)
        small = renderer.render(Path(image_path), max_side=32)
        assert max(small.width, small.height) <= 32 and _varied(small.pixels)


def _provenance(path: Path):  # type: ignore[no-untyped-def]
    from astrolens.domain.images import Provenance

    return Provenance(source_id="folder", uri=path.as_uri())


@pytest.mark.parametrize(
    "name",
    [
        "picture_or_fits__M51.fits",
        "anomaly__J000411.19+020924.0.jpg",
        "anomaly__cosmos_idx934131_objectid43158189327277219_score2122.png",
    ],
)
def test_original_files_render_with_the_default_for_their_kind(
    shared_data: Path, name: str
) -> None:
    shown = DisplayRenderer().render(shared_data / "demo" / name)
    assert _varied(shown.pixels)
    if name.endswith(".fits"):
        # raw flux needs a non-linear stretch to show anything
        assert (shown.stretch, shown.limits) == (DisplayStretch.ASINH, DisplayLimits.ZSCALE)
    else:
        assert (shown.stretch, shown.limits) == (DisplayStretch.LINEAR, DisplayLimits.MINMAX)


def test_gzipped_fits_renders_like_the_plain_file(shared_data: Path, tmp_path: Path) -> None:
    plain = shared_data / "demo" / "picture_or_fits__M51.fits"
    zipped = tmp_path / "m51.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    renderer = DisplayRenderer()
    assert np.array_equal(renderer.render(zipped).pixels, renderer.render(plain).pixels)


def test_the_chosen_stretch_is_applied_and_reported(shared_data: Path) -> None:
    path = shared_data / "demo" / "picture_or_fits__M51.fits"
    renderer = DisplayRenderer()
    linear = renderer.render(path, DisplayStretch.LINEAR, DisplayLimits.MINMAX)
    log = renderer.render(path, DisplayStretch.LOG, DisplayLimits.MINMAX)
    assert linear.stretch is DisplayStretch.LINEAR and log.stretch is DisplayStretch.LOG
    assert log.pixels.mean() > linear.pixels.mean()  # log lifts the faint sky


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
        (b"\x93NUMPY garbage", "stored pixel array"),
    ],
)
def test_unreadable_files_say_why(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "broken.npy"
    path.write_bytes(content)
    with pytest.raises(UnreadableImageError, match=reason):
        DisplayRenderer().render(path)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImageError, match="missing"):
        DisplayRenderer().render(tmp_path / "gone.jpg")


def test_a_replaced_file_is_read_again(shared_data: Path, tmp_path: Path) -> None:
    """The renderer keeps decoded files for re-stretching; a changed file is not served stale."""
    path = tmp_path / "image"
    shutil.copy(shared_data / "demo" / "anomaly__J000411.19+020924.0.jpg", path)
    renderer = DisplayRenderer()
    first = renderer.render(path)
    path.write_bytes(pixels_npy(np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))))
    second = renderer.render(path)
    assert second.kind == "stamp cut from a frame" and second.pixels.shape != first.pixels.shape


def test_the_decoded_file_cache_is_bounded_by_bytes(shared_data: Path) -> None:
    frame = shared_data / "demo" / "picture_or_fits__M51.fits"  # 512x512 float32: 1 MiB
    renderer = DisplayRenderer(cache_size=4, cache_bytes=1_500_000)
    renderer.render(frame)
    assert renderer.cached_bytes() == 512 * 512 * 4
    renderer.render(shared_data / "demo" / "picture_or_fits__HorseHead.fits")  # larger: not kept
    renderer.render(shared_data / "demo" / "anomaly__J000411.19+020924.0.jpg")
    assert 0 < renderer.cached_bytes() <= 1_500_000


# -- stretches -------------------------------------------------------------------------------


def test_zscale_ignores_a_few_bright_stars() -> None:
    rng = np.random.default_rng(0)
    sky = rng.normal(100.0, 5.0, (200, 200)).astype(np.float32)
    sky[50:53, 50:53] = 60_000.0  # a saturated star
    lo, hi = display_limits(sky, DisplayLimits.ZSCALE)
    assert 70 < lo < 100 < hi < 130, (lo, hi)


@pytest.mark.parametrize("stretch", list(DisplayStretch))
def test_stretch_is_monotonic_and_spans_the_byte_range(stretch: DisplayStretch) -> None:
    ramp = np.linspace(0, 1000, 256, dtype=np.float32).reshape(16, 16)
    out = apply_stretch(ramp, stretch, DisplayLimits.MINMAX)
    flat = out.ravel().astype(int)
    assert out.dtype == np.uint8 and out.shape == ramp.shape
    assert flat[0] == 0 and flat[-1] == 255
    assert np.all(np.diff(flat) >= 0)


def test_log_and_asinh_lift_faint_pixels_above_linear() -> None:
    ramp = np.linspace(0, 1, 101, dtype=np.float32)
    lin = apply_stretch(ramp, DisplayStretch.LINEAR, DisplayLimits.MINMAX)
    log = apply_stretch(ramp, DisplayStretch.LOG, DisplayLimits.MINMAX)
    asinh = apply_stretch(ramp, DisplayStretch.ASINH, DisplayLimits.MINMAX)
    assert log[5] > 3 * lin[5] and asinh[5] > 2 * lin[5]


def test_colour_keeps_channel_ratios_and_nans_are_black() -> None:
    img = np.zeros((4, 4, 3), np.float32)
    img[..., 0] = 200.0
    img[..., 1] = 100.0
    img[0, 0, 2] = np.nan
    out = apply_stretch(img, DisplayStretch.LINEAR, DisplayLimits.MINMAX)
    assert out[1, 1, 0] == 255 and 120 < out[1, 1, 1] < 135 and out[0, 0, 2] == 0
