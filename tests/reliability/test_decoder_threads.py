"""Issue 16, item 4: a FITS file without an END card, decoded beside other files, is refused
at once and prints nothing; decoding never touches the process's warning filters."""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.images import Provenance, RawImage
from astrolens.imaging.decoder import ImageDecoder
from tests.reliability.conftest import copy_into
from tests.reliability.harness import run_cli


def without_end_card(fits_bytes: bytes) -> bytes:
    at = fits_bytes.find(b"END" + b" " * 77)
    assert at > 0
    return fits_bytes[:at] + b" " * 80 + fits_bytes[at + 80 :]


def raw(name: str, data: bytes) -> RawImage:
    return RawImage(Provenance("test", f"file:///{name}"), name, data)


def test_decoding_never_swaps_the_global_warning_filters(
    horsehead: Path, demo_jpegs: list[Path]
) -> None:
    """catch_warnings is not thread-safe: two decode threads using it leave each other's
    filters behind (the stall and the 20,000 warnings of the issue)."""
    decoder = ImageDecoder()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("warnings.catch_warnings used while decoding")

    bad = raw("noend.fits", without_end_card(horsehead.read_bytes()))
    jobs = [bad, raw("hh.fits", horsehead.read_bytes())]
    jobs += [raw(p.name, p.read_bytes()) for p in demo_jpegs[:4]]
    for job in jobs[1:3]:  # libraries imported on first use may use it once, at import
        decoder.decode(job)
    started = time.monotonic()
    original = warnings.catch_warnings
    # Patched by hand, not with monkeypatch: pytest itself uses catch_warnings around teardown.
    warnings.catch_warnings = refuse  # type: ignore[assignment,misc]
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(decoder.decode, job) for job in jobs]
    finally:
        warnings.catch_warnings = original  # type: ignore[misc]
    with pytest.raises(UnreadableImageError, match="no END card"):
        futures[0].result()
    for future in futures[1:]:
        assert future.result()
    assert time.monotonic() - started < 60


def test_scan_with_a_headerless_fits_beside_others_prints_no_warnings(
    tmp_path: Path, shared_data: Path, horsehead: Path
) -> None:
    folder = copy_into(tmp_path / "in", *sorted((shared_data / "fits").glob("*.fits"))[1:3])
    (folder / "noend.fits").write_bytes(without_end_card(horsehead.read_bytes()))
    result = run_cli(tmp_path / "home", "scan", "--no-crossmatch", str(folder), timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "AstropyUserWarning" not in result.stderr
    assert result.stderr.count("\n") < 50, result.stderr[-2000:]
    assert "no END card" in result.stdout + result.stderr
