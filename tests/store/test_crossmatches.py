"""Catalog answers: round trips, the catalog verdict, retries and their back-off."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from astrolens.domain.crossmatch import CatalogObject, CatalogVerdict, CrossMatch, MatchStatus
from astrolens.domain.scoring import Verdict
from astrolens.domain.sky import SkyPosition
from astrolens.store.repository import SqliteRepository
from tests.store.builders import (
    MODEL,
    decoded,
    new_image,
    now,
    result,
)


def _error(service: str) -> CrossMatch:
    return CrossMatch(service, MatchStatus.ERROR, 5.0, reason="HTTP 503", checked_at=now())


def _match(service: str, object_type: str = "G") -> CrossMatch:
    obj = CatalogObject("NGC 1234", object_type, SkyPosition(150.001, 2.0), 3.6, 0.02, service)
    return CrossMatch(service, MatchStatus.MATCH, 5.0, (obj,), checked_at=now(), catalog="basic")


def test_crossmatch_round_trip_and_catalog_verdict(repo: SqliteRepository) -> None:
    image = repo.add_image(decoded(1), None, None)
    repo.add_score(image.id, MODEL, result(Verdict.ANOMALY, 5.0))
    repo.save_crossmatch(image.id, _error("ned"))
    repo.save_crossmatch(
        image.id, CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0, checked_at=now())
    )
    candidate = repo.get_candidate(image.id)
    assert candidate is not None
    assert candidate.catalog_verdict is CatalogVerdict.INCOMPLETE
    repo.save_crossmatch(image.id, _match("ned"))
    candidate = repo.get_candidate(image.id)
    assert candidate is not None
    assert candidate.catalog_verdict is CatalogVerdict.KNOWN_OBJECT
    by_service = {m.service: m for m in candidate.crossmatches}
    assert set(by_service) == {"ned", "simbad"}  # one row per service: the latest answer
    ned = by_service["ned"]
    assert ned.status is MatchStatus.MATCH and ned.catalog == "basic"
    assert ned.objects[0].name == "NGC 1234"
    assert ned.objects[0].position == SkyPosition(150.001, 2.0)
    assert ned.objects[0].redshift == pytest.approx(0.02)
    assert ned.objects[0].service == "ned"


def test_pending_crossmatches_respect_backoff(db_path: Path) -> None:
    repo = SqliteRepository(db_path, retry_delay=lambda attempts: timedelta(hours=attempts))
    try:
        fresh = repo.add_image(decoded(1), None, None)
        failed = repo.add_image(decoded(2), None, None)
        no_sky = repo.add_image(decoded(3, sky=None), None, None)
        near = repo.add_image(decoded(4), None, None)
        done = repo.add_image(decoded(5), None, None)
        for img, score in ((fresh, 5.0), (failed, 9.0), (no_sky, 8.0), (done, 7.0)):
            repo.add_score(img.id, MODEL, result(Verdict.ANOMALY, score))
        repo.add_score(near.id, MODEL, result(Verdict.NEAR_MISS, 1.0))
        repo.save_crossmatch(failed.id, _error("simbad"))
        repo.save_crossmatch(done.id, CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0))
        assert [c.id for c in repo.pending_crossmatches(10)] == [fresh.id]
        both = repo.pending_crossmatches(10, verdicts=(Verdict.ANOMALY, Verdict.NEAR_MISS))
        assert [c.id for c in both] == [fresh.id, near.id]  # anomalies first
    finally:
        repo.close()
    repo = SqliteRepository(db_path, retry_delay=lambda attempts: timedelta(0))
    try:
        repo.save_crossmatch(failed.id, _error("simbad"))  # attempt 2, due at once
        pending = repo.pending_crossmatches(10)
        assert [c.id for c in pending] == [failed.id, fresh.id]  # by score
        assert pending[0].catalog_verdict is CatalogVerdict.INCOMPLETE
        attempts = repo._db.execute_sql(
            "SELECT attempts FROM crossmatches WHERE image_id = ?", (failed.id,)
        ).fetchone()[0]
        assert attempts == 2
    finally:
        repo.close()


def test_all_catalog_answers_are_saved_together_and_the_candidate_returned(
    repo: SqliteRepository,
) -> None:
    stored = repo.add_scored_images([new_image(2, Verdict.ANOMALY)])[0]
    answers = [
        CrossMatch("simbad", MatchStatus.NO_MATCH, 5.0, checked_at=now()),
        CrossMatch("ned", MatchStatus.ERROR, 5.0, reason="timeout", checked_at=now()),
    ]
    candidate = repo.save_crossmatches(stored.record.id, answers)
    assert candidate == repo.get_candidate(stored.record.id)
    assert candidate is not None and len(candidate.crossmatches) == 2
    assert candidate.catalog_verdict is not CatalogVerdict.PENDING
