"""One display name per image, whatever view, report or notification shows it."""

from datetime import datetime

from astrolens.domain.images import ImageGroup, ImageRecord, Provenance, uri_file_name


def _record(uri: str, *, parent_uri: str | None = None, **extra: object) -> ImageRecord:
    return ImageRecord(
        id=1,
        content_hash="c",
        perceptual_hash="p",
        provenance=Provenance("folder", uri, extra=dict(extra)),
        width=8,
        height=8,
        group=ImageGroup.SURVEY,
        created_at=datetime(2026, 1, 1),
        parent_uri=parent_uri,
    )


def test_a_file_is_named_by_its_decoded_last_segment():
    assert uri_file_name("file:///data/J150113.98%2B084208.1.jpg") == "J150113.98+084208.1.jpg"
    assert uri_file_name("https://example.org/cutouts/abc/") == "abc"
    assert _record("file:///d/m%2031.png").display_name == "m 31.png"


def test_a_target_list_row_keeps_the_users_own_name():
    record = _record("https://example.org/cutout?ra=1", target="NGC 1300")
    assert record.display_name == "NGC 1300"
    assert record.provenance.file_name == "cutout?ra=1"


def test_a_stamp_is_named_after_its_frame():
    record = _record("file:///f/frame.fits#stamp-3", parent_uri="file:///f/frame%201.fits")
    assert record.display_name == "frame 1.fits (stamp)"
