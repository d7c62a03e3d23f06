"""What a run leaves for the next: quarantine, cursors, key-values."""

from __future__ import annotations

from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    MODEL,
)


def test_quarantine_counts_and_blocks_refetch(repo: SqliteRepository) -> None:
    repo.quarantine("https://example.test/broken.fits", "truncated FITS")
    repo.quarantine("https://example.test/broken.fits", "still truncated")
    entries = repo.quarantined()
    assert [(e.uri, e.reason, e.count) for e in entries] == [
        ("https://example.test/broken.fits", "still truncated", 2)
    ]
    assert repo.has_uri("https://example.test/broken.fits")


def test_cursors_and_key_values(repo: SqliteRepository) -> None:
    assert repo.get_cursor("sdss") is None
    repo.set_cursor("sdss", "page=1")
    repo.set_cursor("sdss", "page=2")
    assert repo.get_cursor("sdss") == "page=2"
    repo.set_value("index.built_for", MODEL)
    repo.set_value("index.built_for", "other")
    assert repo.get_value("index.built_for") == "other"
    assert repo.get_value("missing") is None
