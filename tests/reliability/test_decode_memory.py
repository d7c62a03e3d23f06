"""Issue 16, item 5: decoding is budgeted by decoded bytes and refused before allocating;
large frames are reduced while reading. Each decode runs in its own process and reports how
much its peak RSS grew."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.images import Provenance, RawImage
from astrolens.imaging.decoder import ImageDecoder
from tests.reliability import bombs

MB = 1 << 20


@pytest.fixture(scope="module")
def bomb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bombs")
    bombs.tiff_16bit_rgb(folder / "plate16.tif")
    bombs.png_rgb(folder / "huge.png")
    bombs.gzip_bomb(folder / "bomb.fits.gz", inflated=3 << 30)
    bombs.gzip_bomb(folder / "zeros.fits.gz", inflated=3 << 30, fits_header=False)
    return folder


def peak(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.decode_peak", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("name", "outcome", "ceiling_mb"),
    [
        ("plate16.tif", "refused", 100),  # 1.2 MB file, 1.18 GB of samples: was > 6 GB
        ("bomb.fits.gz", "refused", 150),  # FITS header then 3 GB of zeros: peaked at 4.3 GB
        ("zeros.fits.gz", "refused", 150),
        ("huge.png", "decoded", 1024),  # 168 MP: was 3.5 GB, now reduced while reading
    ],
)
def test_peak_memory_per_decode_stays_under_its_ceiling(
    bomb_dir: Path, name: str, outcome: str, ceiling_mb: int
) -> None:
    result = peak(bomb_dir / name)
    assert str(result["outcome"]).startswith(outcome), result
    assert int(str(result["peak_growth"])) < ceiling_mb * MB, result


def test_a_valid_bigtiff_is_decoded(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "big.tif"
    pixels = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 7).astype(np.uint16)
    tifffile.imwrite(path, pixels, bigtiff=True)
    raw = RawImage(Provenance("test", path.as_uri()), path.name, path.read_bytes())
    (image,) = ImageDecoder().decode(raw)
    assert image.pixels.shape[:2] == (48, 64)


def test_a_large_photo_is_reduced_while_reading_not_refused() -> None:
    import io

    from PIL import Image

    from astrolens.imaging.raster import read_raster
    from astrolens.imaging.sniff import ImageFormat

    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000), (10, 20, 30)).save(buffer, "JPEG")
    raster = read_raster(
        buffer.getvalue(), ImageFormat.JPEG, "big.jpg", 200_000_000, max_working_pixels=1_000_000
    )
    assert raster.reduced_by >= 2
    assert raster.data.shape[0] * raster.data.shape[1] <= 1_500_000
