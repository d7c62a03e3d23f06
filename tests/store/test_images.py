"""Images: round trips, duplicates by content and by look, sightings, URIs done."""

from __future__ import annotations

import dataclasses

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
