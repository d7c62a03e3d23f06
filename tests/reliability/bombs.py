"""Small files that declare huge images, written without ever holding the image in memory."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def tiff_16bit_rgb(path: Path, side: int = 14000, tile: int = 1024) -> Path:
    """A zlib-compressed, tiled 16-bit RGB TIFF of side x side zeros (~1.2 GB decoded)."""
    import tifffile

    # One tile compressed once, handed to tifffile as already-encoded bytes for every tile.
    encoded = zlib.compress(bytes(tile * tile * 3 * 2), 9)

    def tiles() -> Iterator[bytes]:
        for _ in range(((side + tile - 1) // tile) ** 2):
            yield encoded

    tifffile.imwrite(
        path,
        tiles(),
        shape=(side, side, 3),
        dtype=np.uint16,
        tile=(tile, tile),
        photometric="rgb",
        compression="zlib",
    )
    return path


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_rgb(path: Path, width: int = 14000, height: int = 12000) -> Path:
    """An 8-bit RGB PNG of width x height (168 MP) zeros, compressed row by row."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)  # filter byte 0, then the samples
    parts = [compressor.compress(row * 200) for _ in range(height // 200)]
    parts.append(compressor.compress(row * (height % 200)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )
    return path


def gzip_bomb(path: Path, inflated: int = 3 << 30, fits_header: bool = True) -> Path:
    """A .fits.gz that inflates to `inflated` bytes: a FITS header (or nothing), then zeros."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    head = b""
    if fits_header:
        cards = ["SIMPLE  =                    T", "BITPIX  =                   16",
                 "NAXIS   =                    2", "NAXIS1  =                 4000",
                 "NAXIS2  =                 4000", "END"]  # fmt: skip
        head = "".join(c.ljust(80) for c in cards).ljust(2880).encode()
    parts = [compressor.compress(head)]
    zeros = b"\0" * (64 << 20)
    for _ in range((inflated - len(head)) // len(zeros)):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.flush())
    path.write_bytes(b"".join(parts))
    return path
