"""What a run leaves for the next: quarantine, cursors, key-values."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

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


def _task(source_id: str, n: int) -> str:
    return json.dumps({"source_id": source_id, "n": n})


def test_due_retries_are_a_sources_temporary_failures_whose_time_came(
    repo: SqliteRepository,
) -> None:
    repo.quarantine("u1", "HTTP 503", temporary=True, task_json=_task("sdss", 1))
    repo.quarantine("u2", "HTTP 503", temporary=True, task_json=_task("legacy-survey", 2))
    repo.quarantine("u3", "not an image", task_json=_task("sdss", 3))  # a bad file: never
    assert repo.due_retries("sdss", 10) == [_task("sdss", 1)]
    assert repo.due_retries("legacy-survey", 10) == [_task("legacy-survey", 2)]
    assert repo.due_retries("ztf", 10) == []


def test_a_retry_waits_for_its_back_off(db_path: Path) -> None:
    repo = SqliteRepository(db_path, quarantine_delay=lambda attempts: timedelta(hours=attempts))
    try:
        repo.quarantine("u1", "HTTP 503", temporary=True, task_json=_task("sdss", 1))
        assert repo.due_retries("sdss", 10) == []
        (entry,) = repo.quarantined()
        assert entry.temporary and entry.count == 1
    finally:
        repo.close()


def test_several_cursors_are_set_together(repo: SqliteRepository) -> None:
    repo.set_cursor("sdss", "page=1")
    repo.set_cursors({"sdss": "page=3", "folder": "/data/b.fits"})
    assert (repo.get_cursor("sdss"), repo.get_cursor("folder")) == ("page=3", "/data/b.fits")
