"""What a response must look like before anyone calls it an image (or JSON, or a table).

Services answer errors with an HTTP 200 and an HTML page surprisingly often (maintenance pages,
SkyServer's ASP.NET error page, a captive portal). Such a page must fail here, with a clear
reason, instead of reaching the decoder or the store as an "image".
"""

from __future__ import annotations

import enum

from astrolens.domain.errors import TemporarilyUnreadableError, UnreadableImageError


class Expect(enum.Enum):
    IMAGE = "image"  # JPEG, PNG, GIF, FITS, or gzip (a .fits.gz)
    AVRO = "avro"  # an Avro object container file (ZTF alert packets)
    JSON = "json"
    TEXT = "text"  # CSV, IPAC tables: anything that is not an HTML page


_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"SIMPLE  =", "fits"),
    (b"\x1f\x8b", "gzip"),
)
_AVRO_MAGIC = b"Obj\x01"


def sniff_image(body: bytes) -> str | None:
    """The image format the first bytes announce, or None."""
    for magic, name in _IMAGE_MAGIC:
        if body.startswith(magic):
            return name
    return None


def _looks_like_html(body: bytes, content_type: str) -> bool:
    if "html" in content_type:
        return True
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def check_body(body: bytes, content_type: str, expect: Expect, url: str) -> None:
    """Raise UnreadableImageError when `body` is not what `expect` says it should be."""
    ctype = content_type.lower()
    if not body:
        raise TemporarilyUnreadableError(f"empty response from {url}")
    if expect is Expect.IMAGE:
        if sniff_image(body) is None:
            if _looks_like_html(body, ctype):
                # A maintenance page or a captive portal served with 200: try again later.
                raise TemporarilyUnreadableError(f"expected an image from {url}, got an HTML page")
            raise UnreadableImageError(f"expected an image from {url}, got '{ctype or 'unknown'}'")
    elif expect is Expect.AVRO:
        if not body.startswith(_AVRO_MAGIC):
            raise UnreadableImageError(f"expected an Avro alert packet from {url}")
    elif _looks_like_html(body, ctype):
        raise TemporarilyUnreadableError(f"expected {expect.value} from {url}, got an HTML page")
