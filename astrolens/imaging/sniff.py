"""Tell an image format from its first bytes, because suffixes lie.

A server that answers with an error page still hands us a file called ``cutout.jpg``; a FITS
file may arrive gzipped under a plain ``.fits`` name. The magic bytes decide, and whatever we
cannot recognise is rejected with a reason a user can act on.
"""

from __future__ import annotations

import enum

from astrolens.domain.errors import UnreadableImageError


class ImageFormat(enum.StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    TIFF = "tiff"
    FITS = "fits"
    GZIP = "gzip"  # a gzip stream; after inflating it must be FITS


_MAGIC: tuple[tuple[bytes, ImageFormat], ...] = (
    (b"\xff\xd8\xff", ImageFormat.JPEG),
    (b"\x89PNG\r\n\x1a\n", ImageFormat.PNG),
    (b"II*\x00", ImageFormat.TIFF),
    (b"MM\x00*", ImageFormat.TIFF),
    (b"II+\x00", ImageFormat.TIFF),  # BigTIFF (64-bit offsets), read by tifffile
    (b"MM\x00+", ImageFormat.TIFF),
    (b"SIMPLE  =", ImageFormat.FITS),
    (b"\x1f\x8b", ImageFormat.GZIP),
)

_TEXT_HINTS: tuple[tuple[bytes, str], ...] = (
    (b"<!doctype html", "an HTML page, not an image (the server answered with a web page)"),
    (b"<html", "an HTML page, not an image (the server answered with a web page)"),
    (b"<?xml", "an XML document, not an image (perhaps a service error message)"),
    (b"{", "a JSON document, not an image (perhaps a service error message)"),
)


def sniff(data: bytes, name: str = "") -> ImageFormat:
    """The format of `data`, or UnreadableImageError saying what the bytes are instead."""
    label = f"{name}: " if name else ""
    if not data:
        raise UnreadableImageError(f"{label}empty file (0 bytes)")
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    head = data[:512].lstrip().lower()
    for prefix, reason in _TEXT_HINTS:
        if head.startswith(prefix):
            raise UnreadableImageError(f"{label}{reason}")
    if head.startswith(b"<") and (b"<html" in head or b"<body" in head):
        raise UnreadableImageError(f"{label}an HTML page, not an image")
    preview = data[:8].hex(" ")
    raise UnreadableImageError(
        f"{label}not a JPEG, PNG, TIFF or FITS file (first bytes: {preview})"
    )
