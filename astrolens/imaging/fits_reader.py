"""FITS bytes (plain, gzip, tile-compressed) to a float32 array and its header.

The first HDU with image data wins: survey files often keep the pixels in an extension and
leave the primary HDU empty, and `.fits.fz` files always do (CompImageHDU). Sizes are checked
from the header before any pixel is read, and gzip is inflated with a cap, so a small hostile
file cannot make us allocate gigabytes.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from astrolens.domain.errors import UnreadableImageError
from astrolens.imaging import quiet  # noqa: F401  (warning filters, before any decode thread)

if TYPE_CHECKING:  # astropy loads with the first FITS file, not for JPEG/PNG scans
    from astropy.io import fits


@dataclass(frozen=True, slots=True)
class FitsData:
    """Pixels in the file's own orientation (row 0 = FITS y = 1), HxW or HxWx3 float32."""

    data: npt.NDArray[np.float32]
    header: fits.Header
    hdu_index: int
    notes: dict[str, object] = field(default_factory=dict)


_CARD = 80
_BLOCK = 2880
_PRINTABLE = bytes(range(0x20, 0x7F))
_INFLATE_CHUNK = 16 << 20


def inflate_gzip(data: bytes, name: str, max_bytes: int) -> bytes:
    """gunzip with a ceiling on the output size (gzip bombs reach ratios above 1000:1).

    Inflated in chunks, so a bomb costs at most the ceiling, and the first chunk must already
    look like FITS: a bomb of zeros is refused after 16 MB instead of after the ceiling."""
    inflater = zlib.decompressobj(wbits=31)
    out = bytearray()
    pending = data
    limit = max_bytes
    declared: int | None = None
    try:
        while pending or not inflater.eof:
            chunk = inflater.decompress(pending, _INFLATE_CHUNK)
            pending = inflater.unconsumed_tail
            out += chunk
            if declared is None and len(out) >= _BLOCK:
                # A single-HDU file says how long it is: stop one block past that.
                declared = _declared_length(out) or 0
                if declared:
                    limit = min(limit, declared + _BLOCK)
            if len(out) > limit:
                raise UnreadableImageError(
                    f"{name}: refused, inflates to more than {limit:,} bytes "
                    "(possible decompression bomb)"
                )
            if out and not out.startswith(b"SIMPLE  ="[: len(out)]):
                raise UnreadableImageError(f"{name}: gzip file does not hold a FITS image")
            if not chunk and not pending:
                break
    except zlib.error as exc:
        raise UnreadableImageError(f"{name}: corrupt gzip stream ({exc})") from exc
    if not inflater.eof:
        raise UnreadableImageError(f"{name}: truncated gzip stream")
    return bytes(out)


_NAXIS_CARD = re.compile(rb"NAXIS   = *(-?\d+)")


def _require_sane_naxis(data: bytes, name: str) -> None:
    """The standard allows 0..999 axes; astropy loops over NAXIS before any size check, so a
    header claiming 2,147,483,647 axes would hang it (found by fuzzing)."""
    for match in _NAXIS_CARD.finditer(data):
        if match.start() % _CARD == 0 and not 0 <= int(match.group(1)) <= 999:
            raise UnreadableImageError(
                f"{name}: broken FITS file (NAXIS = {int(match.group(1)):,}; at most 999)"
            )


def _declared_length(head: bytes | bytearray) -> int | None:
    """Header plus data length of a FITS file whose primary HDU is all of it, or None when
    the header is incomplete here or announces extensions."""
    values: dict[str, str] = {}
    for offset in range(0, len(head) - _CARD + 1, _CARD):
        card = bytes(head[offset : offset + _CARD])
        key = card[:8].decode("ascii", "replace").strip()
        if key == "END":
            header_len = (offset // _BLOCK + 1) * _BLOCK
            break
        if card[8:10] == b"= ":
            values[key] = card[10:].split(b"/")[0].decode("ascii", "replace").strip()
    else:
        return None
    try:
        if values.get("EXTEND") == "T" or values.get("GROUPS") == "T":
            return None
        naxis = int(values.get("NAXIS", "0"))
        size = abs(int(values.get("BITPIX", "8"))) // 8
        for i in range(1, naxis + 1):
            size *= int(values[f"NAXIS{i}"])
    except (KeyError, ValueError):
        return None
    return header_len + -(-size // _BLOCK) * _BLOCK if naxis else header_len


def read_fits(
    data: bytes, name: str, max_pixels: int, max_decoded_bytes: int | None = None
) -> FitsData:
    _require_end_card(data, name)
    _require_sane_naxis(data, name)
    from astropy.io import fits

    try:
        with fits.open(io.BytesIO(data), memmap=False, lazy_load_hdus=False) as hdul:
            return _first_image(hdul, name, max_pixels, max_decoded_bytes)
    except UnreadableImageError:
        raise
    except Exception as exc:  # astropy raises OSError, TypeError, ValueError, ... for damage
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableImageError(f"{name}: broken FITS file ({reason})") from exc


def _require_end_card(data: bytes, name: str) -> None:
    """Refuse a primary header with no END card before astropy reads the pixels as cards.

    Header cards are printable ASCII; the first card that is not, before any END, is data."""
    for offset in range(0, len(data) - _CARD + 1, _CARD):
        card = data[offset : offset + _CARD]
        if card.startswith(b"END     ") or card == b"END".ljust(_CARD):
            return
        if card.translate(None, _PRINTABLE):
            break
    raise UnreadableImageError(f"{name}: broken FITS file (the header has no END card)")


def _first_image(
    hdul: fits.HDUList, name: str, max_pixels: int, max_decoded_bytes: int | None
) -> FitsData:
    from astropy.io import fits

    image_hdus = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
    for index, hdu in enumerate(hdul):
        if not isinstance(hdu, image_hdus):
            continue
        header = hdu.header
        axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, int(header.get("NAXIS", 0)) + 1)]
        if len(axes) < 2 or 0 in axes:
            continue
        plane_pixels = axes[0] * axes[1]
        if plane_pixels > max_pixels:
            raise UnreadableImageError(
                f"{name}: refused, {plane_pixels:,} pixels exceeds the limit of {max_pixels:,}"
            )
        # What the pixels cost once read (as stored) and converted (float32, up to 3 planes).
        planes = min(axes[2], 3) if len(axes) > 2 else 1
        stored = abs(int(header.get("BITPIX", 32))) // 8
        decoded = plane_pixels * planes * (stored + 4)
        if max_decoded_bytes is not None and decoded > max_decoded_bytes:
            raise UnreadableImageError(
                f"{name}: refused, decoding needs {decoded:,} bytes, more than the "
                f"{max_decoded_bytes:,} byte limit"
            )
        raw = hdu.section[_leading_slice(len(axes))] if len(axes) > 3 else hdu.data
        if raw is None:
            continue
        pixels, notes = _to_image(np.asarray(raw), name)
        return FitsData(data=pixels, header=header.copy(), hdu_index=index, notes=notes)
    raise UnreadableImageError(f"{name}: FITS file has no image data (tables only?)")


def _leading_slice(naxis: int) -> tuple[int | slice, ...]:
    """For >3-D data read only the first 3-D block: (0, ..., 0, :, :, :)."""
    return (0,) * (naxis - 3) + (slice(None),) * 3


def _to_image(arr: npt.NDArray[np.generic], name: str) -> tuple[npt.NDArray[np.float32], dict]:
    notes: dict[str, object] = {}
    arr = np.squeeze(arr) if arr.ndim > 2 else arr
    if arr.ndim == 3:
        if arr.shape[0] == 3:
            # Three planes are taken as colour (e.g. g, r, i): numpy HxWx3.
            arr = np.moveaxis(arr, 0, -1)
            notes["cube"] = "rgb"
        else:
            notes["cube"] = f"first of {arr.shape[0]} planes"
            arr = arr[0]
    if arr.ndim != 2 and not (arr.ndim == 3 and arr.shape[2] == 3):
        raise UnreadableImageError(f"{name}: unsupported FITS data shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise UnreadableImageError(f"{name}: image is too small {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float32)  # also native byte order, for sep
    if not np.isfinite(out).any():
        raise UnreadableImageError(f"{name}: every pixel is NaN or infinite")
    return out, notes
