"""Images: round trips, duplicates by content and by look, sightings, URIs done."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from astrolens.domain.images import ImageGroup
from astrolens.domain.sky import SkyPosition
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    decoded,
)


def test_image_round_trip(repo: SqliteRepository) -> None:
    image = decoded(1, parent_uri="https://example.test/frame.fits")
    record = repo.add_image(image, "/blobs/a.fits", "/blobs/a.png")
    again = repo.get_image(record.id)
    assert again == record
    assert record.content_hash == image.content_hash
    assert record.perceptual_hash == image.perceptual_hash
    assert record.provenance.sky == SkyPosition(150.0, 2.0)
    assert record.provenance.survey == "SDSS DR17"
    assert record.provenance.pixel_scale_arcsec == pytest.approx(0.396)
    assert record.provenance.extra == {"run": 1, "airmass": 1.25}
    assert (record.width, record.height, record.group) == (16, 16, ImageGroup.SURVEY)
    assert record.parent_uri == "https://example.test/frame.fits"
    assert (record.image_path, record.thumbnail_path, record.sightings) == (
        "/blobs/a.fits",
        "/blobs/a.png",
        1,
    )
    assert repo.count_images() == 1


def test_image_without_sky_position(repo: SqliteRepository) -> None:
    record = repo.add_image(decoded(2, sky=None, group=ImageGroup.PICTURE), None, None)
    assert record.provenance.sky is None
    assert record.group is ImageGroup.PICTURE


def test_same_content_is_stored_once(repo: SqliteRepository) -> None:
    first = repo.add_image(decoded(1), None, None)
    second = repo.add_image(decoded(1, uri="https://mirror.test/1.fits"), None, None)
    assert second.id == first.id
    assert repo.count_images() == 1


def test_find_duplicate_by_content_then_perceptual_hash(repo: SqliteRepository) -> None:
    stored = repo.add_image(decoded(1, phash="00000000000000ff"), None, None)
    same_bytes = dataclasses.replace(decoded(1, phash="ffffffffffffffff"))
    assert repo.find_duplicate(same_bytes) == stored
    # A re-encoded copy: other bytes, a hash 2 bits away.
    assert repo.find_duplicate(decoded(2, phash="00000000000000fc")) == stored
    assert repo.find_duplicate(decoded(3, phash="000000000000ff00")) is None


def test_look_alike_stamps_of_one_frame_or_far_apart_are_not_duplicates(
    repo: SqliteRepository,
) -> None:
    frame = "file:///frame.fits"
    a = dataclasses.replace(decoded(1, phash="00000000000000ff"), parent_uri=frame)
    stored = repo.add_image(a, None, None)
    twin = dataclasses.replace(decoded(2, phash="00000000000000ff"), parent_uri=frame)
    assert repo.find_duplicate(twin) is None  # another star in the same frame
    elsewhere = dataclasses.replace(decoded(3, phash="00000000000000ff"), parent_uri=None)
    assert repo.find_duplicate(elsewhere) == stored


def test_sightings_and_has_uri(repo: SqliteRepository) -> None:
    stored = repo.add_image(decoded(1, parent_uri="https://example.test/frame.fits"), None, None)
    assert repo.has_uri(stored.provenance.uri)
    assert repo.has_uri("https://example.test/frame.fits")
    assert not repo.has_uri("https://mirror.test/copy.jpg")
    repo.record_sighting(stored.id, "https://mirror.test/copy.jpg")
    assert repo.has_uri("https://mirror.test/copy.jpg")
    record = repo.get_image(stored.id)
    assert record is not None and record.sightings == 2


def test_known_uris_are_stored_seen_or_quarantined_and_not_due(db_path: Path) -> None:
    repo = SqliteRepository(db_path, quarantine_delay=lambda _: timedelta(days=1))
    try:
        frame = "https://example.test/frame.fits"
        stamp = repo.add_image(decoded(1, parent_uri=frame), None, None)
        repo.record_sighting(stamp.id, "https://mirror.test/copy.jpg")
        repo.quarantine("/data/bad.fits", "truncated", fingerprint="100:1")
        repo.quarantine("https://example.test/later.fits", "HTTP 503", temporary=True)
        asked = [
            stamp.provenance.uri,
            frame,
            "https://mirror.test/copy.jpg",
            "/data/bad.fits",
            "https://example.test/later.fits",
            "https://example.test/never.fits",
        ]
        assert repo.known_uris(asked) == set(asked[:5])
        # a local file that changed since it failed is read again
        assert "/data/bad.fits" not in repo.known_uris(asked, {"/data/bad.fits": "200:2"})
        assert "/data/bad.fits" in repo.known_uris(asked, {"/data/bad.fits": "100:1"})
        # a file whose stamps are not all stored is not done, until it is finished
        repo.begin_file(frame)
        assert frame not in repo.known_uris([frame])
        repo.finish_file(frame)
        assert frame in repo.known_uris([frame])
    finally:
        repo.close()


def test_a_temporary_failure_is_due_again_when_its_retry_time_comes(repo: SqliteRepository) -> None:
    # the default delay: at once on the next cycle after the first failure
    repo.quarantine("https://example.test/later.fits", "HTTP 503", temporary=True)
    assert repo.known_uris(["https://example.test/later.fits"]) == set()
    repo.finish_file("https://example.test/later.fits")  # stored at last: no longer quarantined
    assert repo.quarantined() == []


def test_find_duplicates_answers_each_image(repo: SqliteRepository) -> None:
    stored = repo.add_image(decoded(1), None, None)
    again = decoded(1, uri="https://mirror.test/1.fits")  # same bytes elsewhere
    fresh = decoded(2, phash="ffffffffffffffff")
    assert repo.find_duplicates([again, fresh]) == [stored, None]


def test_list_images_pages_by_id_and_filters_by_source(repo: SqliteRepository) -> None:
    ids = [
        repo.add_image(decoded(seed, source_id=source), None, None).id
        for seed, source in enumerate(("sdss", "legacy", "sdss", "sdss"), start=1)
    ]
    first = repo.list_images(2)
    assert [r.id for r in first] == ids[:2]
    assert [r.id for r in repo.list_images(10, after_id=first[-1].id)] == ids[2:]
    assert [r.id for r in repo.list_images(10, source_id="sdss")] == [ids[0], ids[2], ids[3]]
    assert repo.count_images() == 4


def test_a_batch_of_files_is_finished_in_one_call(repo: SqliteRepository) -> None:
    uris = [f"https://example.test/{n}.fits" for n in range(3)]
    for n, uri in enumerate(uris[:2]):
        repo.add_image(decoded(10 + n, uri=uri), None, None)
        repo.begin_file(uri)
    assert repo.known_uris(uris[:2]) == set()  # stored, but not every image of the file yet
    repo.quarantine(uris[2], "HTTP 503", temporary=True)
    repo.quarantine("https://example.test/other.fits", "HTTP 503", temporary=True)
    repo.finish_files(uris)
    assert repo.known_uris(uris[:2]) == set(uris[:2])  # no longer unfinished
    assert [e.uri for e in repo.quarantined()] == ["https://example.test/other.fits"]
    repo.finish_files([])  # nothing to do
